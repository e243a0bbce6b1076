using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using Gateway.Http;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Security;

namespace Gateway.Tests.Tcp;

/// <summary>
/// A hundred abusive framed peers, over TCP, TLS or a Unix socket, cost the gateway at most MaxFrameSize and 64 KB each
/// more than as many idle ones: the growth of the resident memory (<c>VmRSS</c>) of a gateway running as its own process,
/// from the connections open and idle to the connections having sent their abuse and the gateway having read it, while a
/// bystander keeps its echoes. A frame being received lives in the connection's input pipe: the transport reads no
/// further ahead than that. Measured as <see cref="AbuseMemory"/> says, on the test run's transport.
/// </summary>
public sealed class FramedMemoryTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    private const int MaxFrameSize = 256 * 1024;
    private const int Peers = AbuseMemory.Peers;
    private const long AllowedPerPeer = MaxFrameSize + AbuseMemory.Allowance;
    private const string FrameCut = "a frame cut 4 KiB below the limit and left hanging";
    private const string HeaderOverLimit = "a header announcing more than the limit, then twice the limit of payload";
    private const string LineCut = "a line cut 4 KiB below the limit and left hanging";

    [Theory]
    [InlineData("TCP", FrameCut)]
    [InlineData("TCP", HeaderOverLimit)]
    [InlineData("TCP", LineCut)]
    [InlineData("TLS", FrameCut)]
    [InlineData("TLS", HeaderOverLimit)]
    [InlineData("TLS", LineCut)]
    [InlineData("Unix socket", FrameCut)]
    [InlineData("Unix socket", HeaderOverLimit)]
    [InlineData("Unix socket", LineCut)]
    public async Task A_hundred_abusive_peers_cost_at_most_MaxFrameSize_and_64_KB_each_and_a_bystander_keeps_its_echoes(string carrier, string abuse)
    {
        var bystanderPort = FreePort.Next();
        var abused = new AbusedEndpoint(carrier, abuse == LineCut ? "Line" : "LengthField", certificates);
        await using var gateway = await GatewayProcess.StartAsync(
        [
            $"Gateway:Endpoints:bystander:Port={bystanderPort}",
            "Gateway:Endpoints:bystander:Publish=bystander/{connectionId}",
            "Gateway:Endpoints:bystander:Subscribe:0=bystander/{connectionId}",
            .. abused.Settings(),
        ], waitForBackplane: false);
        await using var bystander = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, bystanderPort));
        await RoundTripAsync(bystander, "before");

        var (growth, abusers) = await AbuseMemory.GrowthAsync(gateway, count => abused.OpenAsync(gateway, count),
            peers => AbuseAsync(gateway, peers, abuse), peers => CloseAsync(gateway, peers), () => RoundTripAsync(bystander, "meanwhile"));

        Assert.True(growth <= Peers * AllowedPerPeer,
            $"{Peers} peers over {carrier} with {abuse} grew the gateway's resident memory by {growth:N0} bytes, over {Peers} × {AllowedPerPeer:N0}");
        await CloseAsync(gateway, abusers);
        await RoundTripAsync(bystander, "after");
    }

    /// <summary>Each of <paramref name="peers"/> commits <paramref name="abuse"/>; returns once the gateway has read all they sent.</summary>
    private static async Task AbuseAsync(GatewayProcess gateway, List<Stream> peers, string abuse)
    {
        var sent = 0L;
        foreach (var peer in peers) sent += await CommitAsync(peer, abuse);
        if (abuse == HeaderOverLimit)
        {
            // Each is closed for it, once its lingering close has read and dropped the rest of what it sent.
            await Eventually.TrueAsync(async () => (await AbusedConnectionsAsync(gateway)).Count == 0,
                "the gateway has closed every abusive connection after its lingering close", TimeSpan.FromSeconds(30));
        }
        else
        {
            // Counted as the connection's handler reads it: for TLS, once decrypted.
            await Eventually.TrueAsync(async () => (await AbusedConnectionsAsync(gateway)).Sum(connection => connection.BytesIn) == sent,
                $"the gateway has read the {sent:N0} bytes the peers sent", TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>Closes <paramref name="peers"/>; returns once the gateway has closed their connections too.</summary>
    private static async Task CloseAsync(GatewayProcess gateway, List<Stream> peers)
    {
        foreach (var peer in peers) await peer.DisposeAsync();
        await Eventually.TrueAsync(async () => (await AbusedConnectionsAsync(gateway)).Count == 0, "the gateway has closed the peers' connections");
    }

    private static async Task<List<AdminApi.ConnectionInfo>> AbusedConnectionsAsync(GatewayProcess gateway)
    {
        using var http = gateway.CreateHttpClient();
        var connections = await http.GetFromJsonAsync<List<AdminApi.ConnectionInfo>>("/api/connections");
        return connections!.Where(connection => connection.Endpoint == AbusedEndpoint.Name).ToList();
    }

    /// <summary>Writes the abuse; returns how many bytes it wrote.</summary>
    private static async Task<long> CommitAsync(Stream stream, string abuse)
    {
        byte[] bytes = abuse switch
        {
            FrameCut => [.. Header(MaxFrameSize - 4), .. new byte[MaxFrameSize - 4096]],
            HeaderOverLimit => [.. Header(int.MaxValue), .. new byte[2 * MaxFrameSize]],
            _ => Encoding.ASCII.GetBytes(new string('x', MaxFrameSize - 4096)),
        };
        try
        {
            await stream.WriteAsync(bytes);
            await stream.FlushAsync();
        }
        catch (IOException)
        {
            // The gateway closed the connection after its lingering close: it reads nothing more.
        }

        return bytes.Length;
    }

    private static byte[] Header(int length)
    {
        var header = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(header, length);
        return header;
    }

    private static async Task RoundTripAsync(FramedClient bystander, string text)
    {
        await bystander.SendAsync(FramedClient.LengthPrefixed(Encoding.ASCII.GetBytes(text)));
        Assert.Equal(text, Encoding.ASCII.GetString(await bystander.ReadLengthPrefixedAsync()));
    }

    /// <summary>The endpoint under abuse, "abused": its framing with MaxFrameSize, over one carrier.</summary>
    private sealed class AbusedEndpoint(string carrier, string framing, TestCertificates certificates)
    {
        public const string Name = "abused";

        private readonly int _port = FreePort.Next();
        private readonly string _socketPath = Path.Combine(Path.GetTempPath(), $"gateway-abused-{Guid.NewGuid():N}.sock");

        public IEnumerable<string> Settings()
        {
            yield return $"Gateway:Endpoints:{Name}:Framing:Kind={framing}";
            yield return $"Gateway:Endpoints:{Name}:Framing:MaxFrameSize={MaxFrameSize}";
            yield return $"Gateway:Endpoints:{Name}:Publish=abused/{{connectionId}}";
            if (carrier == "Unix socket")
            {
                yield return $"Gateway:Endpoints:{Name}:UnixSocketPath={_socketPath}";
                yield break;
            }

            yield return $"Gateway:Endpoints:{Name}:Port={_port}";
            if (carrier == "TLS")
            {
                yield return $"Gateway:Endpoints:{Name}:Tls:Certificate:Path={certificates.ServerCertificate}";
                yield return $"Gateway:Endpoints:{Name}:Tls:Certificate:KeyPath={certificates.ServerKey}";
            }
        }

        /// <summary>Opens <paramref name="count"/> connections, each a stream ready for the framing (TLS handshaken).</summary>
        public async Task<List<Stream>> OpenAsync(GatewayProcess gateway, int count)
        {
            var peers = new List<Stream>();
            for (var i = 0; i < count; i++) peers.Add(await OpenOneAsync());
            // The gateway counts a connection once its handler runs: wait for all, so that none opens during the abuse.
            await Eventually.TrueAsync(async () => (await AbusedConnectionsAsync(gateway)).Count >= count, $"the gateway lists {count} connections on {Name}");
            return peers;
        }

        private async Task<Stream> OpenOneAsync()
        {
            if (carrier == "Unix socket")
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(_socketPath));
                return new NetworkStream(socket, ownsSocket: true);
            }

            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, _port);
            if (carrier != "TLS") return client.GetStream();
            var tls = new SslStream(client.GetStream(), leaveInnerStreamOpen: false);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                CertificateChainPolicy = TestCertificates.TrustOnly(certificates.CaCertificate),
            });
            return tls;
        }
    }
}
