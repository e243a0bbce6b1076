namespace Gateway.HostileTests;

/// <summary>
/// A UDP flood from more source ports than <c>MaxPeers</c>, so that peers are displaced all the time: the log stays
/// bounded (the tracked and forgotten lines are throttled), the displacements are counted, and a bystander peer is
/// answered.
/// </summary>
public sealed class UdpFloodTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_flood_from_more_ports_than_MaxPeers_keeps_the_log_bounded_counts_the_displaced_peers_and_answers_a_bystander()
    {
        var ports = HostileScale.Of(400, 2_000);
        var datagrams = HostileScale.Of(40_000, 400_000);
        var maxPeers = ports / 2;
        await using var gateway = await HostileGateway.StartAsync(
            "Gateway:Endpoints:flood:Protocol=Udp", "Gateway:Endpoints:flood:Port=0", "Gateway:Endpoints:flood:Publish=flood/{remote}",
            "Gateway:Endpoints:flood:Subscribe:0=flood/{remote}", $"Gateway:Endpoints:flood:Udp:MaxPeers={maxPeers}");
        var endpoint = await gateway.EndPointOfAsync("flood");
        using var bystander = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        Assert.Equal("before", await RoundTripAsync(bystander, endpoint, "before"));
        var linesBefore = gateway.LogLines;
        var baseline = gateway.ResidentBytes();

        var senders = new Socket[ports];
        for (var i = 0; i < ports; i++)
        {
            senders[i] = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            senders[i].Bind(new IPEndPoint(IPAddress.Loopback, 0));
            senders[i].ReceiveBufferSize = 4096; // their echoes are not read: let the kernel drop them early
        }

        var payload = Encoding.ASCII.GetBytes("flood");
        for (var sent = 0; sent < datagrams; sent++)
        {
            await senders[sent % ports].SendToAsync(payload, endpoint);
            if (sent % 20_000 == 0) gateway.ResidentBytes();
        }

        // What the flood left in the socket's buffer is read before the bystander's datagram.
        var during = await RoundTripAsync(bystander, endpoint, "after the flood");
        await gateway.AssertAliveAsync();
        var displaced = await gateway.RejectionsAsync("flood", "max_peers");
        var received = await gateway.EndpointMetricAsync("gateway_datagrams_total", "flood", "network_io_direction=\"receive\"");
        var lines = gateway.LogLines - linesBefore;
        Figures.Report(output, "UDP flood", ("datagrams sent", datagrams), ("source ports", ports), ("MaxPeers", maxPeers), ("datagrams read", (long)received),
            ("peers displaced (max_peers)", displaced), ("log lines", lines), ("RSS before", Figures.Megabytes(baseline)),
            ("RSS after", Figures.Megabytes(gateway.ResidentBytes())), ("RSS peak", Figures.Megabytes(gateway.PeakResidentBytes)), ("bystander", during));
        foreach (var sender in senders) sender.Dispose();

        Assert.Equal("after the flood", during);
        Assert.True(displaced > 0, "no peer was counted as displaced at MaxPeers");
        Assert.True(lines < 1_000, $"the flood wrote {lines} log lines:\n{gateway.Output[^Math.Min(gateway.Output.Length, 3000)..]}");
    }

    /// <summary>Sends <paramref name="text"/> until it comes back (a datagram may be lost to the flood), at most 20 times.</summary>
    private static async Task<string> RoundTripAsync(UdpClient client, IPEndPoint endpoint, string text)
    {
        var datagram = Encoding.ASCII.GetBytes(text);
        for (var attempt = 0; attempt < 20; attempt++)
        {
            await client.SendAsync(datagram, endpoint);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                while (true)
                {
                    var answer = Encoding.ASCII.GetString((await client.ReceiveAsync(wait.Token)).Buffer);
                    if (answer == text) return answer;
                }
            }
            catch (OperationCanceledException)
            {
                // lost on the way, or the gateway still reads the flood: again
            }
        }

        return "no answer";
    }
}
