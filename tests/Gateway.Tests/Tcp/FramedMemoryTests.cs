using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Tcp;

/// <summary>
/// A hundred abusive framed TCP peers cost the gateway at most MaxFrameSize and 64 KB each more than as many idle ones:
/// the growth of the resident memory (<c>VmRSS</c>) of a gateway running as its own process, from the connections open
/// and idle to the connections having sent their abuse and the gateway having read it, while a bystander keeps its
/// echoes. A frame being received lives in the connection's input pipe: the transport reads no further ahead than that.
/// </summary>
public abstract class FramedMemoryTests(TransportKind transport)
{
    private const int MaxFrameSize = 256 * 1024;
    private const int Peers = 100;
    private const long AllowedPerPeer = MaxFrameSize + 64 * 1024;

    // Known gap of issue 19, item 3, kept here as the target: on 2026-12-05 the cut frame and the cut line cost about
    // 345 KB per peer on both transports (the frame is 252 KiB of pipe blocks), and on Kestrel's socket transport a header
    // over the limit followed by its payload cost about 610 KB per peer (the transport reads ahead of the lingering close,
    // up to 1 MiB per connection). Unskip once the transport's read-ahead and its pool's overhead are bounded.
    [Theory(Skip = "known gap of issue 19: framed peers cost ~345 KB each against 320 KB allowed; see the comment")]
    [InlineData("a frame cut 4 KiB below the limit and left hanging")]
    [InlineData("a header announcing more than the limit, then twice the limit of payload")]
    [InlineData("a line cut 4 KiB below the limit and left hanging")]
    public async Task A_hundred_abusive_peers_cost_at_most_MaxFrameSize_and_64_KB_each_and_a_bystander_keeps_its_echoes(string abuse)
    {
        var lengthPort = FreePort.Next();
        var linePort = FreePort.Next();
        await using var gateway = await GatewayProcess.StartAsync(
        [
            $"Gateway:Transport:Kind={transport}",
            $"Gateway:Endpoints:bulk:Port={lengthPort}",
            $"Gateway:Endpoints:bulk:Framing:MaxFrameSize={MaxFrameSize}",
            "Gateway:Endpoints:bulk:Publish=bulk/{connectionId}",
            "Gateway:Endpoints:bulk:Subscribe:0=bulk/{connectionId}",
            $"Gateway:Endpoints:lines:Port={linePort}",
            "Gateway:Endpoints:lines:Framing:Kind=Line",
            $"Gateway:Endpoints:lines:Framing:MaxFrameSize={MaxFrameSize}",
        ], waitForBackplane: false);
        var port = abuse.Contains("line", StringComparison.Ordinal) ? linePort : lengthPort;
        await using var bystander = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, lengthPort));
        await RoundTripAsync(bystander, "before");
        // Once, so that what the first abuse costs for good (code compiled, pools filled) is in the baseline.
        foreach (var client in await AbuseAsync(await OpenAsync(port, 5), port, abuse)) client.Dispose();

        var clients = await OpenAsync(port, Peers);
        var baseline = ProcessMemory.ResidentBytes(gateway.ProcessId);
        await AbuseAsync(clients, port, abuse);
        await RoundTripAsync(bystander, "meanwhile");
        var growth = ProcessMemory.ResidentBytes(gateway.ProcessId) - baseline;

        Assert.True(growth <= Peers * AllowedPerPeer,
            $"{Peers} peers with {abuse} grew the gateway's resident memory by {growth:N0} bytes, over {Peers} × {AllowedPerPeer:N0}");
        foreach (var client in clients) client.Dispose();
        await RoundTripAsync(bystander, "after");
    }

    private static async Task<List<TcpClient>> OpenAsync(int port, int peers)
    {
        var clients = new List<TcpClient>();
        for (var i = 0; i < peers; i++)
        {
            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            clients.Add(client);
        }

        return clients;
    }

    /// <summary>Each of <paramref name="clients"/> commits <paramref name="abuse"/>; returns them once the gateway has read all they sent.</summary>
    private static async Task<List<TcpClient>> AbuseAsync(List<TcpClient> clients, int port, string abuse)
    {
        foreach (var client in clients) await CommitAsync(client.GetStream(), abuse);
        await Eventually.TrueAsync(() => ProcessMemory.UnreadBytesOnPort(port) == 0, "the gateway has read what the clients sent", TimeSpan.FromSeconds(30));
        return clients;
    }

    private static async Task CommitAsync(Stream stream, string abuse)
    {
        try
        {
            if (abuse.StartsWith("a frame cut", StringComparison.Ordinal))
            {
                await stream.WriteAsync(Header(MaxFrameSize - 4));
                await stream.WriteAsync(new byte[MaxFrameSize - 4096]);
            }
            else if (abuse.StartsWith("a header announcing", StringComparison.Ordinal))
            {
                await stream.WriteAsync(Header(int.MaxValue));
                await stream.WriteAsync(new byte[2 * MaxFrameSize]);
            }
            else
            {
                await stream.WriteAsync(Encoding.ASCII.GetBytes(new string('x', MaxFrameSize - 4096)));
            }
        }
        catch (IOException)
        {
            // The gateway closed the connection after its lingering close: it reads nothing more.
        }
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
}

public sealed class FramedMemoryTestsOnEpoll() : FramedMemoryTests(TransportKind.Epoll);

public sealed class FramedMemoryTestsOnSockets() : FramedMemoryTests(TransportKind.Sockets);
