namespace Gateway.HostileTests;

/// <summary>
/// Slowloris: frames dribbled a byte at a time without end on a framed endpoint (so the idle timeout never fires), HTTP
/// request headers sent slowly and never ended. The endpoint's FrameTimeout and the HTTP host's RequestHeadersTimeout
/// close them, and bystanders are served meanwhile.
/// </summary>
public sealed class SlowlorisTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(2);

    [Fact]
    public async Task Frames_and_HTTP_headers_dribbled_and_never_finished_are_closed_by_the_timeouts_while_bystanders_are_served()
    {
        var peers = HostileScale.Of(50, 500);
        await using var gateway = await HostileGateway.StartAsync(
            $"Gateway:Endpoints:echo:FrameTimeout={s_timeout}", $"Gateway:Http:RequestHeadersTimeout={s_timeout}");
        var echo = await gateway.EndPointOfAsync("echo");
        await using var bystander = await FramedClient.ConnectAsync(echo);
        using var httpBystander = gateway.CreateHttpClient();
        var baseline = gateway.ResidentBytes();

        var dribblers = new List<Task<bool>>();
        for (var i = 0; i < peers; i++)
        {
            // A frame announcing 1,000 bytes, dribbled a byte every 100 ms: never idle, never finished in time.
            dribblers.Add(DribbleAsync(echo, [0, 0, 3, 0xE8], 300));
            dribblers.Add(DribbleAsync(new IPEndPoint(IPAddress.Loopback, gateway.HttpPort),
                Encoding.ASCII.GetBytes("GET /healthz HTTP/1.1\r\nHost: x\r\n"), 300, "X-Slow: y\r\n"u8.ToArray()));
        }

        var served = 0;
        var attack = Task.WhenAll(dribblers);
        while (!attack.IsCompleted)
        {
            await bystander.SendAsync(FramedClient.LengthPrefixed("bystander"u8));
            Assert.Equal("bystander", Encoding.ASCII.GetString(await bystander.ReadLengthPrefixedAsync()));
            using var health = await httpBystander.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            served++;
            gateway.ResidentBytes();
            await Task.WhenAny(attack, Task.Delay(100));
        }

        var closed = (await attack).Count(wasClosed => wasClosed);
        await Eventually.TrueAsync(async () => await gateway.ConnectionsAsync("echo") == 1, "the dribbling connections are gone", TimeSpan.FromSeconds(30));
        await gateway.AssertAliveAsync();
        Figures.Report(output, "slowloris", ("TCP dribblers", peers), ("HTTP dribblers", peers), ("closed by the gateway", closed),
            ("bystander round trips meanwhile", served), ("RSS before", Figures.Megabytes(baseline)), ("RSS peak", Figures.Megabytes(gateway.PeakResidentBytes)));
        Assert.Equal(2 * peers, closed);
        Assert.True(served > 0, "no bystander round trip while the dribblers were connected");
    }

    /// <summary>
    /// Sends <paramref name="start"/>, then <paramref name="bytes"/> of <paramref name="dribble"/> (or zeros) one every
    /// 100 ms, then waits; true when the gateway closes the connection within 45 s of the connect.
    /// </summary>
    private static async Task<bool> DribbleAsync(IPEndPoint endpoint, byte[] start, int bytes, byte[]? dribble = null)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint).WaitAsync(TimeSpan.FromSeconds(10));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        try
        {
            await socket.SendAsync(start);
            for (var i = 0; i < bytes; i++)
            {
                await Task.Delay(100, timeout.Token);
                await socket.SendAsync(new[] { dribble is null ? (byte)0 : dribble[i % dribble.Length] });
            }

            var buffer = new byte[1024];
            while (await socket.ReceiveAsync(buffer, timeout.Token) > 0)
            {
                // Kestrel may answer 408 before it closes.
            }

            return true;
        }
        catch (SocketException)
        {
            return true; // reset by the gateway
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
