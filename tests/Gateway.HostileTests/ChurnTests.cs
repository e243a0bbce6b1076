namespace Gateway.HostileTests;

/// <summary>
/// Thousands of connections opened and closed (with a FIN, with a reset, after an echo, in the middle of a frame):
/// afterwards no connection is left open and the resident memory is back near where it was.
/// </summary>
public sealed class ChurnTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Thousands_of_connects_and_closes_some_reset_leave_no_connection_open_and_memory_near_its_baseline()
    {
        var connections = HostileScale.Of(2_000, 20_000);
        await using var gateway = await HostileGateway.StartAsync();
        var echo = await gateway.EndPointOfAsync("echo");
        await using var bystander = await FramedClient.ConnectAsync(echo);
        await ChurnAsync(echo, 200); // what the first connections cost for good (code compiled, pools filled) is in the baseline
        await Eventually.TrueAsync(async () => await gateway.ConnectionsAsync("echo") == 1, "the warm-up connections are closed", TimeSpan.FromSeconds(30));
        var baseline = gateway.ResidentBytes();

        await gateway.SampleMemoryUntilAsync(ChurnAsync(echo, connections));
        await Eventually.TrueAsync(async () => await gateway.ConnectionsAsync("echo") == 1, "every churned connection is closed", TimeSpan.FromSeconds(30));
        await gateway.AssertAliveAsync();
        await bystander.SendAsync(FramedClient.LengthPrefixed("still here"u8));
        var echoed = Encoding.ASCII.GetString(await bystander.ReadLengthPrefixedAsync());
        // The runtime gives memory back on its own schedule: what is compared is where it settles, read for a few seconds.
        var after = gateway.ResidentBytes();
        for (var i = 0; i < 30 && after > baseline + (16L << 20); i++)
        {
            await Task.Delay(100);
            after = Math.Min(after, gateway.ResidentBytes());
        }

        Figures.Report(output, "connect/close churn", ("connections", connections), ("RSS before", Figures.Megabytes(baseline)), ("RSS after", Figures.Megabytes(after)),
            ("RSS peak", Figures.Megabytes(gateway.PeakResidentBytes)), ("open afterwards", await gateway.ConnectionsAsync("echo") - 1), ("bystander", echoed));
        Assert.Equal("still here", echoed);
        Assert.True(after - baseline < 32L << 20, $"after {connections} connections the resident memory is {after - baseline:N0} bytes over its baseline");
    }

    /// <summary><paramref name="count"/> connections from 8 workers, each ended one of four ways in turn.</summary>
    private static Task ChurnAsync(IPEndPoint echo, int count)
    {
        var workers = new Task[8];
        for (var w = 0; w < workers.Length; w++)
        {
            var first = w;
            workers[w] = Task.Run(async () =>
            {
                for (var i = first; i < count; i += workers.Length) await OneAsync(echo, i % 4);
            });
        }

        return Task.WhenAll(workers);
    }

    private static async Task OneAsync(IPEndPoint echo, int way)
    {
        using var socket = new Socket(echo.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(echo).WaitAsync(TimeSpan.FromSeconds(10));
        switch (way)
        {
            case 0: // connect, then FIN
                socket.Shutdown(SocketShutdown.Both);
                break;
            case 1: // connect, then reset
                socket.LingerState = new LingerOption(true, 0);
                break;
            case 2: // one echo, then FIN
                var frame = FramedClient.LengthPrefixed("churn"u8);
                await socket.SendAsync(frame);
                var buffer = new byte[frame.Length];
                for (var read = 0; read < buffer.Length;)
                {
                    var n = await socket.ReceiveAsync(buffer.AsMemory(read)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                    if (n == 0) throw new EndOfStreamException("The gateway closed a churned connection before its echo.");
                    read += n;
                }

                Assert.Equal(frame, buffer);
                socket.Shutdown(SocketShutdown.Both);
                break;
            default: // half a frame, then reset
                await socket.SendAsync(new byte[] { 0, 0, 1, 0, 1, 2, 3 });
                socket.LingerState = new LingerOption(true, 0);
                break;
        }

        socket.Close();
    }
}
