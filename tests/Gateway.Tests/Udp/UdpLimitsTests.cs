using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Udp;

/// <summary>Bad or excessive input is dropped and counted, vanished peers are shrugged off, and the endpoint keeps serving.</summary>
public abstract class UdpLimitsTests(TransportKind transport)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    private static string[] EchoAndLines(params string[] overrides) =>
    [
        "Gateway:Endpoints:udp:Protocol=Udp",
        "Gateway:Endpoints:udp:Port=0",
        "Gateway:Endpoints:udp:Publish=udp/{remote}",
        "Gateway:Endpoints:udp:Subscribe:0=udp/{remote}",
        "Gateway:Endpoints:udp:Subscribe:1=all",
        "Gateway:Endpoints:lines:Port=0",
        "Gateway:Endpoints:lines:Framing:Kind=Line",
        "Gateway:Endpoints:lines:Publish=all",
        .. overrides,
    ];

    [Fact]
    public async Task Oversized_datagram_is_dropped_and_counted_and_the_next_one_is_served()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoAndLines("Gateway:Endpoints:udp:Udp:MaxDatagramSize=16"));
        var counters = gateway.UdpEndpoint("udp").Counters;
        using var client = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await client.SendAsync(new string('x', 17));
        await client.SendAsync(new byte[60_000]);
        await Eventually.TrueAsync(() => counters.DroppedOversize == 2, "two oversized datagrams are counted");
        await client.SendAsync("exactly 16 bytes");

        Assert.Equal("exactly 16 bytes", await client.ReceiveTextAsync());
        Assert.Equal(3, counters.DatagramsIn);
        Assert.Contains(gateway.Logs.Lines, line => line.EventId.Name == "UdpDatagramDropped" && line.Level == LogLevel.Debug
            && line.Message.Contains("oversize", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Outbound_message_larger_than_a_datagram_may_be_is_dropped_and_counted()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoAndLines("Gateway:Endpoints:udp:Udp:MaxDatagramSize=16"));
        var counters = gateway.UdpEndpoint("udp").Counters;
        await using var lines = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        using var client = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        await client.SendAsync("hello");
        Assert.Equal("hello", await client.ReceiveTextAsync());

        await lines.SendLineAsync("this line is longer than sixteen bytes");
        await lines.SendLineAsync("short");

        Assert.Equal("short", await client.ReceiveTextAsync());
        Assert.Equal(1, counters.DroppedUnsendable);
        // The counter moves once the send returns, which may be after the datagram has arrived.
        await Eventually.TrueAsync(() => counters.DatagramsOut == 2, "the echo and the short line are counted as sent");
    }

    [Fact]
    public async Task Datagrams_over_a_sources_rate_limit_are_dropped_and_counted_while_others_pass()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoAndLines(
            "Gateway:Endpoints:udp:Limits:MessagesPerSecond=1",
            "Gateway:Endpoints:udp:Limits:MessageBurst=3"));
        var counters = gateway.UdpEndpoint("udp").Counters;
        using var flooder = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        using var polite = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        for (var i = 0; i < 10; i++)
            await flooder.SendAsync(i.ToString());
        await Eventually.TrueAsync(() => counters.DatagramsIn == 10, "all ten datagrams are read");

        // The burst passes; the heartbeat may add a token a second meanwhile, so only a lower bound on the drops.
        var limited = counters.DroppedRateLimited;
        Assert.InRange(limited, 1, 7);
        var echoed = new List<string>();
        for (var i = 0; i < 10 - limited; i++)
            echoed.Add(await flooder.ReceiveTextAsync());
        Assert.Equal(new[] { "0", "1", "2" }, echoed.Take(3));

        // Another source has a bucket of its own.
        await polite.SendAsync("a");
        await polite.SendAsync("b");
        await polite.SendAsync("c");
        Assert.Equal(new[] { "a", "b", "c" }, new[] { await polite.ReceiveTextAsync(), await polite.ReceiveTextAsync(), await polite.ReceiveTextAsync() });
        Assert.Equal(limited, counters.DroppedRateLimited);
        Assert.Equal(limited, gateway.Services.GetRequiredService<Rejections>().For("udp", "rate_limited").Value);
    }

    [Fact]
    public async Task Vanished_peer_does_not_stop_the_endpoint_serving_others()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoAndLines());
        var counters = gateway.UdpEndpoint("udp").Counters;
        await using var lines = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        var vanished = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        await vanished.SendAsync("about to vanish");
        Assert.Equal("about to vanish", await vanished.ReceiveTextAsync());
        vanished.Dispose();

        // Each of these goes to the closed port; the kernel answers with ICMP port unreachable.
        for (var i = 0; i < 3; i++)
            await lines.SendLineAsync("anyone there?");
        await Eventually.TrueAsync(() => counters.DatagramsOut + counters.DroppedUnsendable == 4, "the three sends to the vanished peer are made");
        using var survivor = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        await survivor.SendAsync("still serving?");

        Assert.Equal("still serving?", await survivor.ReceiveTextAsync());
        Assert.DoesNotContain(gateway.Logs.Lines, line => line.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task Peers_are_listed_while_tracked_and_the_least_recently_heard_is_displaced_at_MaxPeers()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoAndLines("Gateway:Endpoints:udp:Udp:MaxPeers=2"));
        var registry = gateway.Services.GetRequiredService<ConnectionRegistry>();
        using var first = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        using var second = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        using var third = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await SendAndEchoAsync(first, "1");
        await SendAndEchoAsync(second, "2");
        Assert.Equal(new[] { first.Remote, second.Remote }.Order(), UdpPeers(registry).Select(peer => peer.RemoteAddress).Order());
        Assert.All(UdpPeers(registry), peer => Assert.Equal("udp", peer.Endpoint));
        await SendAndEchoAsync(first, "1 again");
        await SendAndEchoAsync(third, "3");

        // second was heard from least recently, so it made room for third.
        Assert.Equal(new[] { first.Remote, third.Remote }.Order(), UdpPeers(registry).Select(peer => peer.RemoteAddress).Order());
        Assert.Contains(gateway.Logs.Lines, line => line.EventId.Name == "ConnectionClosed"
            && line.Message.Contains(second.Remote, StringComparison.Ordinal) && line.Message.Contains("MaxPeers (2)", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Closing_a_peer_forgets_it_until_it_sends_again()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoAndLines());
        var registry = gateway.Services.GetRequiredService<ConnectionRegistry>();
        await using var lines = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        using var client = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        await SendAndEchoAsync(client, "hello");
        var peer = Assert.Single(UdpPeers(registry));

        peer.Close("closed by admin");

        Assert.Empty(UdpPeers(registry));
        Assert.Contains(gateway.Logs.Lines, line => line.EventId.Name == "ConnectionClosed"
            && line.Message.Contains(peer.Id, StringComparison.Ordinal) && line.Message.Contains("closed by admin", StringComparison.Ordinal));
        await lines.SendLineAsync("to everyone heard from");
        Assert.True(await client.ReceivesNothingWithinAsync(TimeSpan.FromMilliseconds(300)));

        await SendAndEchoAsync(client, "back again");
        var again = Assert.Single(UdpPeers(registry));
        Assert.NotEqual(peer.Id, again.Id);
        Assert.Equal(client.Remote, again.RemoteAddress);
    }

    [Fact]
    public async Task A_flood_of_new_source_ports_over_MaxPeers_keeps_the_log_quiet_counts_every_datagram_and_a_bystander_keeps_its_echoes()
    {
        const int Senders = 2_000;
        const int MaxPeers = 1_000;
        const int Rounds = 200; // 400,000 datagrams, every one from a source the endpoint has forgotten
        await using var gateway = await TestGateway.StartAsync(transport, EchoAndLines($"Gateway:Endpoints:udp:Udp:MaxPeers={MaxPeers}"));
        var counters = gateway.UdpEndpoint("udp").Counters;
        var server = gateway.UdpEndPointOf("udp");
        var senders = new Socket[Senders];
        for (var i = 0; i < Senders; i++)
        {
            senders[i] = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            senders[i].Bind(new IPEndPoint(IPAddress.Loopback, 0));
        }

        using var bystander = new UdpTestClient(server);
        var payload = "flood"u8.ToArray();
        long sent = 0;
        try
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(120);
            for (var round = 0; round < Rounds; round++)
            {
                for (var i = 0; i < Senders; i++)
                    senders[i].SendTo(payload, server);
                await bystander.SendAsync(round.ToString());
                sent += Senders + 1;
                // At most two rounds in flight, so the socket's buffer never overflows and every datagram is read.
                while (counters.DatagramsIn < sent - 2 * Senders)
                {
                    Assert.True(DateTime.UtcNow < deadline, $"the endpoint read {counters.DatagramsIn} of {sent} datagrams");
                    await Task.Delay(1);
                }
            }
        }
        finally
        {
            foreach (var sender in senders)
                sender.Dispose();
        }

        await Eventually.TrueAsync(() => counters.DatagramsIn == sent, $"all {sent} datagrams are read", TimeSpan.FromSeconds(30));
        var echoes = new HashSet<string>();
        for (var round = 0; round < Rounds; round++)
            echoes.Add(await bystander.ReceiveTextAsync());
        Assert.Equal(Enumerable.Range(0, Rounds).Select(round => round.ToString()).ToHashSet(), echoes);
        var displaced = gateway.Services.GetRequiredService<Rejections>().Of("udp").GetValueOrDefault(RejectionReasons.MaxPeers);
        Assert.True(displaced >= Rounds * Senders - MaxPeers, $"{displaced} peers counted as displaced");
        Assert.True(gateway.Logs.InformationOrAbove < 1_000, $"{gateway.Logs.InformationOrAbove} lines at Information or above");
    }

    private static ConnectionSession[] UdpPeers(ConnectionRegistry registry) =>
        [.. registry.All.Where(connection => connection.Protocol == "udp")];

    private static async Task SendAndEchoAsync(UdpTestClient client, string text)
    {
        await client.SendAsync(text);
        Assert.Equal(text, Encoding.UTF8.GetString((await client.ReceiveAsync()).Buffer));
    }
}

public sealed class UdpLimitsTestsOnEpoll() : UdpLimitsTests(TransportKind.Epoll);

public sealed class UdpLimitsTestsOnSockets() : UdpLimitsTests(TransportKind.Sockets);
