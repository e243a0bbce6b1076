using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Observability;
using Gateway.Tcp;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Security;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Tcp;

/// <summary>
/// The lingering close of framed connections closed for bad input: the replies owed arrive even though the peer is still
/// sending, the close stays bounded, and a storm of bad input leaves a bounded log.
/// </summary>
public abstract partial class LingeringCloseTests(TransportKind transport, TestCertificates certificates)
{
    private const int ValidFrames = 100;
    // "frame 0042" and padding: the echoes are more than the client's receive window takes, so at the close some still
    // wait in the gateway's send buffer, which a reset would discard.
    private const int BodySize = 1000;
    private const int ClientReceiveBuffer = 4096;
    private const int TrailingBytes = 64 * 1024;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    // A 4-byte length header announcing 5000 bytes, over the endpoints' MaxFrameSize of 1024.
    private static readonly byte[] s_badHeader = [0, 0, 0x13, 0x88];

    private static string[] Echo(string name, params string[] extra) =>
    [
        $"Gateway:Endpoints:{name}:Framing:Kind=LengthField",
        $"Gateway:Endpoints:{name}:Framing:LengthFieldSize=4",
        $"Gateway:Endpoints:{name}:Framing:MaxFrameSize=1024",
        $"Gateway:Endpoints:{name}:Publish=echo/{{connectionId}}",
        $"Gateway:Endpoints:{name}:Subscribe:0=echo/{{connectionId}}",
        .. extra,
    ];

    [Fact]
    public async Task Client_that_keeps_sending_after_its_bad_frame_receives_every_echo_the_close_line_counts()
    {
        await using var gateway = await StartAsync(Echo("echo", "Gateway:Endpoints:echo:Port=0"));
        var endPoint = gateway.EndPointOf("echo");

        var received = await Task.WhenAll(Enumerable.Range(0, 150).Select(async _ =>
        {
            using var socket = await ConnectAsync(endPoint);
            await using var stream = new NetworkStream(socket);
            return (Remote: socket.LocalEndPoint!.ToString()!, Echoes: await SendBadFrameAndKeepSendingAsync(stream));
        }));

        await AssertEveryClientGotWhatItsCloseLineCountsAsync(gateway, "echo", received);
    }

    [Fact]
    public async Task Client_that_keeps_sending_after_its_bad_frame_over_a_unix_socket_receives_every_echo()
    {
        var socketPath = Path.Combine(Path.GetTempPath(), $"gw-{Guid.NewGuid():N}.sock");
        await using var gateway = await StartAsync(Echo("local", "Gateway:Endpoints:local:UnixSocketPath=" + socketPath));

        var received = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var socket = await ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
            await using var stream = new NetworkStream(socket);
            return await SendBadFrameAndKeepSendingAsync(stream);
        }));

        // Every peer has the same remote ("unix:path"): each close line counts all the frames, and each client got them.
        var written = await FramesWrittenByCloseLinesAsync(gateway, "local", received.Length, byRemote: false);
        Assert.All(written.Values, frames => Assert.Equal(ValidFrames, frames));
        Assert.All(received, echoes => Assert.Equal(ValidFrames, echoes));
    }

    [Fact]
    public async Task Client_that_keeps_sending_after_its_bad_frame_over_tls_receives_every_echo_the_close_line_counts()
    {
        await using var gateway = await StartAsync(Echo("secure",
            "Gateway:Endpoints:secure:Port=0",
            $"Gateway:Endpoints:secure:Tls:Certificate:Path={certificates.ServerCertificate}",
            $"Gateway:Endpoints:secure:Tls:Certificate:KeyPath={certificates.ServerKey}"));
        var endPoint = gateway.EndPointOf("secure");

        var received = await Task.WhenAll(Enumerable.Range(0, 50).Select(async _ =>
        {
            using var socket = await ConnectAsync(endPoint);
            await using var tls = new SslStream(new NetworkStream(socket));
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "localhost",
                CertificateChainPolicy = TestCertificates.TrustOnly(certificates.CaCertificate),
            });
            return (Remote: socket.LocalEndPoint!.ToString()!, Echoes: await SendBadFrameAndKeepSendingAsync(tls));
        }));

        await AssertEveryClientGotWhatItsCloseLineCountsAsync(gateway, "secure", received);
    }

    [Fact]
    public async Task Lingering_ends_at_LingerTimeout_when_the_peer_never_stops_sending()
    {
        await using var gateway = await StartAsync(Echo("echo", "Gateway:Endpoints:echo:Port=0", "Gateway:Endpoints:echo:LingerTimeout=00:00:01"));
        using var socket = await ConnectAsync(gateway.EndPointOf("echo"));
        await using var stream = new NetworkStream(socket);

        await stream.WriteAsync(s_badHeader);
        // Sends until the gateway's close makes a send fail; reads nothing, so the echo of nothing is all it is owed.
        var chunk = new byte[4096];
        var sending = Task.Run(async () =>
        {
            try
            {
                while (true) await stream.WriteAsync(chunk);
            }
            catch (IOException)
            {
            }
        });

        await sending.WaitAsync(s_timeout);
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("framing error: ", closed.Message, StringComparison.Ordinal);
        await Eventually.TrueAsync(() => gateway.Services.GetRequiredService<ConnectionRegistry>().Count == 0, "the connection is unlisted");
    }

    [Fact]
    public async Task Storm_of_framing_errors_writes_a_bounded_number_of_lines_and_a_summary_while_the_counter_has_them_all()
    {
        const int connections = 200;
        await using var gateway = await StartAsync(Echo("echo", "Gateway:Endpoints:echo:Port=0"));
        var endPoint = gateway.EndPointOf("echo");

        await Task.WhenAll(Enumerable.Range(0, connections).Select(async _ =>
        {
            await using var client = await FramedClient.ConnectAsync(endPoint);
            await client.SendAsync(s_badHeader);
            Assert.True(await client.WaitForCloseAsync(s_timeout), "a connection with a bad frame stayed open");
        }));

        var endpoint = gateway.Services.GetRequiredService<TcpEndpointCatalog>().Find("echo")!;
        await Eventually.TrueAsync(() => endpoint.FramingErrors == connections, "every framing error counted");
        var logged = gateway.Logs.Lines.Count(line => line.EventId.Name == "FramingError");
        Assert.InRange(logged, 1, LogThrottle.DefaultLimit);

        // The summaries come at the end of each interval, and with the lines written they account for every error.
        await Eventually.TrueAsync(() => logged + Suppressed(gateway, "framing errors on echo") == connections,
            "the summary lines count the suppressed framing errors", TimeSpan.FromSeconds(30));

        // The close line names the problem even when its framing-error line was suppressed.
        var closeLines = gateway.Logs.Lines.Where(line => line.EventId.Name == "ConnectionClosed").ToList();
        Assert.Equal(connections, closeLines.Count);
        Assert.All(closeLines, line => Assert.Contains("MaxFrameSize", line.Message, StringComparison.Ordinal));
    }

    /// <summary>
    /// Sends <see cref="ValidFrames"/> frames, a header over the limit, then <see cref="TrailingBytes"/> more in small writes
    /// (which the gateway never reads as frames), then reads echoes until the gateway closes. Returns the echoes read,
    /// after checking that they are the first frames sent, in order and whole.
    /// </summary>
    private static async Task<int> SendBadFrameAndKeepSendingAsync(Stream stream)
    {
        var frames = new byte[ValidFrames * (4 + BodySize)];
        for (var i = 0; i < ValidFrames; i++)
        {
            var frame = frames.AsSpan(i * (4 + BodySize), 4 + BodySize);
            BinaryPrimitives.WriteUInt32BigEndian(frame, BodySize);
            Encoding.ASCII.GetBytes($"frame {i:D4}".PadRight(BodySize, '.'), frame[4..]);
        }

        try
        {
            await stream.WriteAsync((byte[])[.. frames, .. s_badHeader]);
            var chunk = new byte[4096];
            for (var sent = 0; sent < TrailingBytes; sent += chunk.Length)
                await stream.WriteAsync(chunk);
        }
        catch (IOException)
        {
            // The gateway has closed; what it sent before is what counts.
        }

        // Reads only once it has sent everything, as a simple client does: by then the gateway has closed.
        var echoed = await ReadUntilClosedAsync(stream).WaitAsync(s_timeout);
        Assert.Equal(0, echoed.Length % (4 + BodySize));
        Assert.Equal(frames.AsSpan(0, echoed.Length).ToArray(), echoed);
        return echoed.Length / (4 + BodySize);
    }

    /// <summary>Each client read as many echoes as its connection's close line says were written: all of them.</summary>
    private static async Task AssertEveryClientGotWhatItsCloseLineCountsAsync(TestGateway gateway, string endpoint, (string Remote, int Echoes)[] clients)
    {
        var written = await FramesWrittenByCloseLinesAsync(gateway, endpoint, clients.Length);
        Assert.All(clients, client => Assert.Equal(written[client.Remote], client.Echoes));
        Assert.All(clients, client => Assert.Equal(ValidFrames, client.Echoes));
    }

    /// <summary>Everything read until the gateway's FIN, or until a reset ended the connection.</summary>
    private static async Task<byte[]> ReadUntilClosedAsync(Stream stream)
    {
        var received = new MemoryStream();
        var buffer = new byte[16 * 1024];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0)
                received.Write(buffer, 0, read);
        }
        catch (IOException)
        {
            // A reset: the bytes read before it are all the client got.
        }

        return received.ToArray();
    }

    /// <summary>The FramesOut of each connection's close line on <paramref name="endpoint"/>, by remote address (or by connection id).</summary>
    private static async Task<Dictionary<string, long>> FramesWrittenByCloseLinesAsync(TestGateway gateway, string endpoint, int connections, bool byRemote = true)
    {
        List<Match> closed = [];
        await Eventually.TrueAsync(() =>
        {
            closed = [.. gateway.Logs.Lines
                .Where(line => line.EventId.Name == "ConnectionClosed")
                .Select(line => CloseLine().Match(line.Message))
                .Where(match => match.Success && match.Groups["endpoint"].Value == endpoint)];
            return closed.Count == connections;
        }, $"{connections} close lines on {endpoint}", s_timeout);
        return closed.ToDictionary(
            match => match.Groups[byRemote ? "remote" : "id"].Value,
            match => long.Parse(match.Groups["framesOut"].Value));
    }

    private static long Suppressed(TestGateway gateway, string kind) =>
        gateway.Logs.Lines
            .Where(line => line.EventId.Name == "LogLinesSuppressed" && line.Message.Contains(kind, StringComparison.Ordinal))
            .Sum(line => long.Parse(line.Message[..line.Message.IndexOf(' ')]));

    private static async Task<Socket> ConnectAsync(EndPoint endPoint)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.ReceiveBufferSize = ClientReceiveBuffer;
        await socket.ConnectAsync(endPoint).WaitAsync(s_timeout);
        return socket;
    }

    [GeneratedRegex(@"^Connection (?<id>\S+) \(\w+\) on (?<endpoint>\S+) from (?<remote>\S+) as .* out \d+ bytes (?<framesOut>\d+) messages$")]
    private static partial Regex CloseLine();

    private Task<TestGateway> StartAsync(params string[] settings) => TestGateway.StartAsync(transport, settings);
}

public sealed class LingeringCloseTestsOnEpoll(TestCertificates certificates)
    : LingeringCloseTests(TransportKind.Epoll, certificates), IClassFixture<TestCertificates>;

public sealed class LingeringCloseTestsOnSockets(TestCertificates certificates)
    : LingeringCloseTests(TransportKind.Sockets, certificates), IClassFixture<TestCertificates>;
