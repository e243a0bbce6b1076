using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Udp;
using Xunit.Abstractions;

namespace Gateway.Tests.Backplane;

/// <summary>
/// The cross-protocol paths with publisher and subscriber on two real gateway processes joined by a real nats-server,
/// and the broker faults a deployment meets: a NATS cluster node killed in the middle of traffic, and the only NATS
/// server stopped and started again. Every assertion is one a user can make from outside: what clients receive, the
/// answers and close codes they get, <c>/readyz</c> and <c>/metrics</c>.
/// </summary>
/// <remarks>
/// A subscription made on one instance reaches the NATS server(s) a moment after the subscriber connects (the link
/// subscribes in the background, and in a cluster the interest then travels the routes). Core NATS drops a message for
/// which it knows no interest, so the first message of each path is sent again until it arrives; what is asserted
/// after that is sent once.
/// </remarks>
public sealed class CrossInstanceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(15);

    /// <summary>Probes fast enough that a stopped broker shows in /readyz within about a second.</summary>
    private static readonly string[] s_fastProbe = ["Gateway:Backplane:ProbeInterval=00:00:00.250", "Gateway:Backplane:ProbeTimeout=00:00:00.750"];

    [Fact]
    public async Task Tcp_lines_and_websocket_messages_cross_between_two_instances_both_ways()
    {
        await using var nats = await NatsServer.StartAsync();
        var chatPort = FreePort.Next();
        await using var gateways = await StartAsync(
            [.. Backplane(nats), .. Endpoint("lines", chatPort, "Line", "chat", "chat")],
            Backplane(nats));
        var (a, b) = (gateways[0], gateways[1]);

        await using var tcp = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, chatPort));
        await using var tcpInbox = Inbox<string>.Of(_ => tcp.ReadLineAsync(TimeSpan.FromMinutes(5)));
        using var ws = await ConnectWebSocketAsync(b, "?subscribe=chat&publish=chat");
        await using var wsInbox = Inbox<string>.Of(token => ReceiveTextAsync(ws, token));

        // TCP on A → WebSocket on B, and WebSocket on B → TCP on A (A's own line also comes back to the TCP client locally).
        int fromA = 0, fromB = 0;
        await SendUntilAsync(_ => tcp.SendLineAsync($"hello {++fromA} from a"), wsInbox, text => text.StartsWith("hello", StringComparison.Ordinal), "a TCP line on A reaches the WebSocket on B");
        await SendUntilAsync(_ => SendTextAsync(ws, $"hello {++fromB} from b"), tcpInbox, text => text.StartsWith("hello", StringComparison.Ordinal) && text.EndsWith("from b", StringComparison.Ordinal),
            "a WebSocket message on B reaches the TCP client on A");

        // Sent once each, now that both instances hold their subscriptions: non-ASCII text keeps its characters both ways.
        await tcp.SendLineAsync("温度 21.5 from a");
        await SendTextAsync(ws, "学习TCP from b");
        fromA++;
        fromB++;
        // (Each client subscribes to what it publishes, so its own messages come back to it from its own instance: skipped.)
        Assert.Equal("温度 21.5 from a", await wsInbox.NextAsync(text => !text.StartsWith("hello", StringComparison.Ordinal) && !text.EndsWith("from b", StringComparison.Ordinal)));
        Assert.Equal("学习TCP from b", await tcpInbox.NextAsync(text => !text.StartsWith("hello", StringComparison.Ordinal) && !text.EndsWith("from a", StringComparison.Ordinal)));

        // In /metrics: each instance sent to NATS every message its client published, and what it received from NATS is
        // what reached its client from the other side. (A first hello sent before the other instance's subscription had
        // reached NATS was sent and received by nobody: core NATS keeps nothing for a subscriber that is not there yet.)
        await EventuallyEqualAsync(async () => (fromA, await a.MetricAsync("gateway_backplane_messages_sent_total")), "lines sent on A and A's sent_total");
        await EventuallyEqualAsync(async () => (fromB, await b.MetricAsync("gateway_backplane_messages_sent_total")), "WebSocket messages sent on B and B's sent_total");
        await EventuallyEqualAsync(async () => (wsInbox.Seen.Count(text => text.EndsWith("from a", StringComparison.Ordinal)), await b.MetricAsync("gateway_backplane_messages_received_total")),
            "messages from A on B's WebSocket and B's received_total");
        await EventuallyEqualAsync(async () => (tcpInbox.Seen.Count(text => text.EndsWith("from b", StringComparison.Ordinal)), await a.MetricAsync("gateway_backplane_messages_received_total")),
            "messages from B on A's TCP client and A's received_total");
    }

    [Fact]
    public async Task Http_publish_on_one_instance_reaches_the_udp_peers_of_another()
    {
        await using var nats = await NatsServer.StartAsync();
        var udpPort = FreePort.Next();
        await using var gateways = await StartAsync(
            Backplane(nats),
            [.. Backplane(nats), .. Endpoint("dgrams", udpPort, framing: null, "udp/{remote}", "alerts/#")]);
        var (a, b) = (gateways[0], gateways[1]);

        // A peer that has sent to B is one of B's subscribers to alerts/# (the endpoint's subscription is per sender).
        using var peer = new UdpTestClient(new IPEndPoint(IPAddress.Loopback, udpPort));
        await peer.SendAsync("hello");
        await using var datagrams = Inbox<string>.Of(_ => peer.ReceiveTextAsync(TimeSpan.FromMinutes(5)));
        using var http = a.CreateHttpClient();

        JsonElement answer = default;
        await SendUntilAsync(async _ =>
        {
            var response = await http.PostAsync("/api/topics/alerts/fire", new StringContent("evacuate", Encoding.UTF8, "text/plain"));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            answer = await response.Content.ReadFromJsonAsync<JsonElement>();
        }, datagrams, text => text == "evacuate", "an HTTP publish on A reaches the UDP peer of B");

        Assert.Equal("alerts/fire", answer.GetProperty("topic").GetString());
        // The answer counts A's own subscribers only (NATS does not say who else received it): none here.
        Assert.Equal(0, answer.GetProperty("subscribers").GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/api/topics/alerts/flood", new StringContent("all clear"))).StatusCode);
        Assert.Equal("all clear", await datagrams.NextAsync(text => text != "evacuate"));
        Assert.True(await b.MetricAsync("gateway_backplane_subscriptions") >= 2, "B holds alerts/# on NATS (gw.alerts.> and gw.alerts)");
    }

    [Fact]
    public async Task Udp_datagrams_on_one_instance_reach_an_event_stream_on_another_with_the_senders_topic()
    {
        await using var nats = await NatsServer.StartAsync();
        var udpPort = FreePort.Next();
        await using var gateways = await StartAsync(
            [.. Backplane(nats), .. Endpoint("dgrams", udpPort, framing: null, "udp/{remote}")],
            Backplane(nats));
        var (a, b) = (gateways[0], gateways[1]);

        await using var stream = await SseClient.OpenAsync(b.HttpAddress, "/api/topics/udp/%23/events");
        await using var events = Inbox<JsonElement>.Of(async _ => (await stream.ReadEventAsync(TimeSpan.FromMinutes(5))).Data);
        using var peer = new UdpTestClient(new IPEndPoint(IPAddress.Loopback, udpPort));

        var datagrams = 0;
        var first = await SendUntilAsync(_ => { datagrams++; return peer.SendAsync("temp=22"); }, events, _ => true, "a datagram to A reaches the event stream on B");
        // The topic carries the sender's address:port, dots and colon included, although NATS subjects escape the dots.
        Assert.Equal($"udp/{peer.Remote}", first.GetProperty("topic").GetString());
        Assert.Equal("temp=22", first.GetProperty("text").GetString());

        await peer.SendAsync("temp=23");
        datagrams++;
        var second = await events.NextAsync(data => data.GetProperty("text").GetString() != "temp=22");
        Assert.Equal(($"udp/{peer.Remote}", "temp=23"), (second.GetProperty("topic").GetString(), second.GetProperty("text").GetString()));
        // A sent every datagram to NATS; B received from NATS what reached its stream (not an early datagram sent before
        // B's subscription had reached NATS).
        await EventuallyEqualAsync(async () => (datagrams, await a.MetricAsync("gateway_backplane_messages_sent_total")), "datagrams sent to A and A's sent_total");
        await EventuallyEqualAsync(async () => (events.Seen.Count, await b.MetricAsync("gateway_backplane_messages_received_total")), "events on B's stream and B's received_total");
    }

    [Fact]
    public async Task Tcp_frames_on_one_instance_reach_a_wildcard_event_stream_on_another()
    {
        await using var nats = await NatsServer.StartAsync();
        var devicePort = FreePort.Next();
        await using var gateways = await StartAsync(
            [.. Backplane(nats), .. Endpoint("devices", devicePort, "LengthField", "devices/{connectionId}/up"), "Gateway:Endpoints:devices:Framing:LengthFieldSize=2"],
            Backplane(nats));
        var (a, b) = (gateways[0], gateways[1]);

        await using var stream = await SseClient.OpenAsync(b.HttpAddress, "/api/topics/devices/%2B/up/events");
        await using var events = Inbox<JsonElement>.Of(async _ => (await stream.ReadEventAsync(TimeSpan.FromMinutes(5))).Data);
        await using var device = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, devicePort));

        var first = await SendUntilAsync(_ => device.SendAsync(FramedClient.LengthPrefixed("temp=21.5C"u8, headerSize: 2)), events, _ => true,
            "a frame on A reaches the devices/+/up stream on B");
        // The device's topic names its connection as A lists it.
        using var http = a.CreateHttpClient();
        var connections = await http.GetFromJsonAsync<JsonElement[]>("/api/connections");
        var id = Assert.Single(connections!, connection => connection.GetProperty("endpoint").GetString() == "devices").GetProperty("id").GetString();
        Assert.Equal($"devices/{id}/up", first.GetProperty("topic").GetString());
        Assert.Equal("temp=21.5C", first.GetProperty("text").GetString());

        await device.SendAsync(FramedClient.LengthPrefixed("temp=22.0C"u8, headerSize: 2));
        var second = await events.NextAsync(data => data.GetProperty("text").GetString() != "temp=21.5C");
        Assert.Equal(($"devices/{id}/up", "temp=22.0C"), (second.GetProperty("topic").GetString(), second.GetProperty("text").GetString()));
    }

    [Fact]
    public async Task A_denied_publish_is_refused_where_it_was_made_and_reaches_nobody_on_the_other_instance()
    {
        const string opsKey = "ops-key-0123456789abcdef0123456789abcdef";
        string[] security =
        [
            "Gateway:Security:ApiKeys:0:Identity=ops",
            $"Gateway:Security:ApiKeys:0:Sha256={Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(opsKey)))}",
            "Gateway:Security:Permissions:ops:Publish:0=#",
            "Gateway:Security:Permissions:ops:Subscribe:0=#",
            "Gateway:Security:Permissions:ops:Admin=true",
            "Gateway:Security:DefaultPermissions:Publish:0=public/#",
            "Gateway:Security:DefaultPermissions:Subscribe:0=public/#",
        ];
        await using var nats = await NatsServer.StartAsync();
        var linesPort = FreePort.Next();
        await using var gateways = await StartAsync(
            [.. Backplane(nats), .. security, .. Endpoint("lines", linesPort, "Line", "secret/{connectionId}")],
            [.. Backplane(nats), .. security]);
        var (a, b) = (gateways[0], gateways[1]);

        // ops watches secret/# on B; ops publishes on A until the path is up.
        await using var stream = await SseClient.OpenAsync(b.HttpAddress, $"/api/topics/secret/%23/events?access_token={opsKey}");
        Assert.Equal(HttpStatusCode.OK, stream.Response.StatusCode);
        await using var watched = Inbox<JsonElement>.Of(async _ => (await stream.ReadEventAsync(TimeSpan.FromMinutes(5))).Data);
        using var ops = a.CreateHttpClient(opsKey);
        var opsPublishes = 0;
        await SendUntilAsync(async _ =>
        {
            (await ops.PostAsync("/api/topics/secret/ready", new StringContent("ready"))).EnsureSuccessStatusCode();
            opsPublishes++;
        }, watched, _ => true, "ops's publish on A reaches the watcher on B");

        // Anonymous callers on A, each with the documented refusal: HTTP 403, raw WebSocket closed with 1008, a TCP line dropped and logged.
        using var anonymous = a.CreateHttpClient();
        var denied = await anonymous.PostAsync("/api/topics/secret/plans", new StringContent("leak over http"));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        Assert.Equal("anonymous may not publish to 'secret/plans'.", (await denied.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());

        using var ws = await ConnectWebSocketAsync(a, "?publish=secret/ws");
        await SendTextAsync(ws, "leak over ws");
        using var closeTimeout = new CancellationTokenSource(s_timeout);
        var closing = await ws.ReceiveAsync(new byte[1024], closeTimeout.Token);
        Assert.Equal(WebSocketMessageType.Close, closing.MessageType);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, ws.CloseStatus);
        Assert.Equal("anonymous may not publish to 'secret/ws'", ws.CloseStatusDescription);

        await using var line = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, linesPort));
        await line.SendLineAsync("leak over tcp");
        await Eventually.TrueAsync(async () => await a.MetricAsync("gateway_permission_denials_total", "gateway_endpoint=\"lines\"") == 1,
            "the TCP line counted as denied on A", s_timeout);
        // PublishDenied, logged once per connection ("Publish to secret/... by anonymous on lines (...) denied: ...").
        await Eventually.TrueAsync(() => a.Output.Contains("by anonymous on lines", StringComparison.Ordinal), "A logs the denied TCP publish", s_timeout);
        var onA = await a.MetricsAsync();
        Assert.Equal(1, onA.Value("gateway_permission_denials_total", "gateway_endpoint=\"http\""));
        Assert.Equal(1, onA.Value("gateway_permission_denials_total", "gateway_endpoint=\"ws\""));

        // What ops publishes next is the watcher's next message after the "ready" ones: nothing denied came in between,
        // and none of it went to NATS (everything A sent is ops's).
        (await ops.PostAsync("/api/topics/secret/after", new StringContent("after"))).EnsureSuccessStatusCode();
        opsPublishes++;
        var next = await watched.NextAsync(data => data.GetProperty("text").GetString() != "ready");
        Assert.Equal(("secret/after", "after"), (next.GetProperty("topic").GetString(), next.GetProperty("text").GetString()));
        await EventuallyEqualAsync(async () => (opsPublishes, await a.MetricAsync("gateway_backplane_messages_sent_total")), "ops's publishes and A's sent_total");
        Assert.Equal(0, await b.MetricAsync("gateway_permission_denials_total"));
        Assert.DoesNotContain(watched.Seen, data => data.GetProperty("text").GetString()!.StartsWith("leak", StringComparison.Ordinal));
    }

    /// <summary>
    /// Three nats-server processes routed into one cluster, three gateways that each know all three. A TCP client on
    /// gateway 1 sends numbered lines at a steady rate; a WebSocket on gateway 2 and a TCP client on gateway 3 receive
    /// them. The node gateway 1 is connected to is killed in the middle of the traffic.
    /// </summary>
    /// <remarks>
    /// Core NATS delivers at most once: what gateway 1 had written to the dead node's socket, and what the cluster was
    /// routing through it, is lost, and so is what gateway 1 sends while a subscriber's gateway is itself reconnecting
    /// (if it was on that node too): NATS counts none of it, and no gateway can. What the gateways do count is every
    /// message's fate on each side: on gateway 1 every published line is either sent to NATS or dropped by reason, and on
    /// gateways 2 and 3 every message received from NATS reaches the client. So a subscriber's missing lines are exactly
    /// gateway 1's drops plus (sent − received), which a user reads off /metrics, and the test bounds them in time: all
    /// were sent around the kill, and everything sent once the links had failed over arrived, in order, once.
    /// </remarks>
    [Fact]
    public async Task Killing_the_NATS_node_a_gateway_is_on_mid_traffic_fails_it_over_and_the_loss_is_counted_and_bounded()
    {
        int[] clusterPorts = [FreePort.Next(), FreePort.Next(), FreePort.Next()];
        var nodes = new NatsServer[3];
        await using var cluster = new Disposables();
        for (var i = 0; i < 3; i++)
        {
            var routes = string.Join(",", clusterPorts.Where((_, j) => j != i).Select(port => $"nats://127.0.0.1:{port}"));
            nodes[i] = cluster.Add(await NatsServer.StartAsync("--name", $"n{i + 1}", "--cluster_name", "gw", "--cluster", $"nats://127.0.0.1:{clusterPorts[i]}", "--routes", routes));
        }

        var feedPort = FreePort.Next();
        var watchPort = FreePort.Next();
        await using var gateways = await StartAsync(
            [.. Backplane(nodes), .. Endpoint("feed", feedPort, "Line", "feed")],
            Backplane(nodes),
            [.. Backplane(nodes), .. Endpoint("watch", watchPort, "Line", publish: null, "feed")]);
        var (g1, g2, g3) = (gateways[0], gateways[1], gateways[2]);

        await using var publisher = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, feedPort));
        using var ws = await ConnectWebSocketAsync(g2, "?subscribe=feed");
        await using var onG2 = Inbox<string>.Of(token => ReceiveTextAsync(ws, token));
        await using var watcher = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, watchPort));
        await using var onG3 = Inbox<string>.Of(_ => watcher.ReadLineAsync(TimeSpan.FromMinutes(5)));

        // Until both subscriptions are known across the cluster; then one last warm-up line, which arrives after the
        // others (one publisher, one connection, one subscription each: NATS keeps their order), so the counters are still
        // when they are read as the baseline.
        var warmUps = 0;
        await SendUntilAsync(_ => publisher.SendLineAsync($"warm-up {warmUps++}"), onG2, _ => true, "the feed reaches gateway 2", TimeSpan.FromSeconds(20));
        await SendUntilAsync(_ => publisher.SendLineAsync($"warm-up {warmUps++}"), onG3, _ => true, "the feed reaches gateway 3", TimeSpan.FromSeconds(20));
        await publisher.SendLineAsync("warm-up last");
        await onG2.NextAsync(text => text == "warm-up last");
        await onG3.NextAsync(text => text == "warm-up last");
        onG2.Clear();
        onG3.Clear();
        await EventuallyEqualAsync(async () => (warmUps + 1, await g1.MetricAsync("gateway_backplane_messages_sent_total")), "warm-up lines and gateway 1's sent_total");
        var before = await Task.WhenAll(g1.MetricsAsync(), g2.MetricsAsync(), g3.MetricsAsync());

        var servers = await Task.WhenAll(gateways.All.Select(async gateway => (await gateway.BackplaneCheckAsync()).GetProperty("data").GetProperty("server").GetString()));
        var victimName = servers[0];
        Assert.Contains(victimName, new[] { "n1", "n2", "n3" });
        var victim = victimName![1] - '1';

        // About a hundred lines a second (a 5 ms pause after each), each stamped with when it was sent, for 1.5 s before
        // the kill and 4 s after it.
        var clock = Stopwatch.StartNew();
        var sentAt = new List<TimeSpan>();
        using var stopSending = new CancellationTokenSource();
        var sending = Task.Run(async () =>
        {
            while (!stopSending.IsCancellationRequested)
            {
                lock (sentAt) sentAt.Add(clock.Elapsed);
                await publisher.SendLineAsync((sentAt.Count - 1).ToString());
                await Task.Delay(5);
            }
        });
        await Task.Delay(1500);
        var killedAt = clock.Elapsed;
        await nodes[victim].StopAsync();
        await Task.Delay(4000);
        await stopSending.CancelAsync();
        await sending;
        var sent = sentAt.Count;

        // Gateway 1 failed over to another node, and its link flows again.
        await Eventually.TrueAsync(async () => await g1.BackplaneStatusAsync() == "Healthy", "gateway 1's backplane Healthy again", s_timeout);
        var g1Check = await g1.BackplaneCheckAsync();
        Assert.NotEqual(victimName, g1Check.GetProperty("data").GetProperty("server").GetString());
        Assert.True(await g1.MetricAsync("gateway_backplane_reconnects_total") >= 1);

        // The traffic went on: the last line reaches both subscribers.
        var last = (sent - 1).ToString();
        await onG2.NextAsync(text => text == last, s_timeout);
        await onG3.NextAsync(text => text == last, s_timeout);
        // Gateway 1 accounts for every line: each was sent to NATS or dropped by reason, none still queued.
        await EventuallyEqualAsync(async () =>
        {
            var now = await g1.MetricsAsync();
            return (sent, now.Value("gateway_backplane_messages_sent_total") + now.Value("gateway_backplane_messages_dropped_total")
                - before[0].Value("gateway_backplane_messages_sent_total") - before[0].Value("gateway_backplane_messages_dropped_total"));
        }, "lines sent, and gateway 1's sent_total + dropped_total since the baseline");
        var after = await Task.WhenAll(g1.MetricsAsync(), g2.MetricsAsync(), g3.MetricsAsync());
        Assert.Equal(0, after[0].Value("gateway_backplane_queued"));
        double Delta(int gateway, string name, params string[] labels) => after[gateway].Value(name, labels) - before[gateway].Value(name, labels);
        Assert.Equal(sent, Delta(0, "gateway_messages_published_total", "gateway_endpoint=\"feed\""));
        var g1Sent = Delta(0, "gateway_backplane_messages_sent_total");
        var g1Dropped = Delta(0, "gateway_backplane_messages_dropped_total");
        Assert.Equal(sent, g1Sent + g1Dropped);

        var rate = sent / (sentAt[^1] - sentAt[0]).TotalSeconds;
        var report = new StringBuilder($"gateways on {string.Join(", ", servers)}; {sent} lines sent at {rate:0} a second, node n{victim + 1} killed at {killedAt.TotalSeconds:0.000} s; gateway 1 sent {g1Sent}, dropped {g1Dropped}\n");
        foreach (var (inbox, gateway, name) in new[] { (onG2, 1, "gateway 2 (WebSocket)"), (onG3, 2, "gateway 3 (TCP)") })
        {
            var received = inbox.Seen.Select(int.Parse).ToList();
            var missing = Enumerable.Range(0, sent).Except(received).ToList();
            var nodeLost = g1Sent - Delta(gateway, "gateway_backplane_messages_received_total");
            report.Append($"{name}: received {received.Count}, missing {missing.Count} ({Describe(missing, sentAt)}), lost between NATS's ends {nodeLost}\n");

            // In order and once each: at most once, never twice, never reordered by the failover.
            Assert.True(received.SequenceEqual(received.Order().Distinct()), $"{name} received lines out of order or twice\n{report}");
            // Everything its gateway received from NATS reached the client, so what it missed is what gateway 1 dropped
            // (counted by reason) plus what NATS lost between the two gateways (sent minus received).
            Assert.Equal(Delta(gateway, "gateway_backplane_messages_received_total"), received.Count);
            Assert.Equal(missing.Count, g1Dropped + nodeLost);
            // Bounded: all were sent between just before the kill and the failover (reconnect waits are 0.25 to 2 s), so the
            // last second of traffic and more arrived whole, and they are at most as many as two seconds of traffic.
            Assert.All(missing, number => Assert.InRange(sentAt[number], killedAt - TimeSpan.FromSeconds(0.5), killedAt + TimeSpan.FromSeconds(3)));
            Assert.True(missing.Count <= 2 * rate, $"{name} lost more than 2 s of traffic\n{report}");
        }

        output.WriteLine(report.ToString());
    }

    [Fact]
    public async Task When_the_only_NATS_server_restarts_the_check_degrades_drops_are_counted_and_delivery_resumes_within_5_s()
    {
        await using var nats = await NatsServer.StartAsync();
        await using var gateways = await StartAsync(
            [.. Backplane(nats), .. s_fastProbe, "Gateway:Backplane:Outbox:Capacity=10"],
            [.. Backplane(nats), .. s_fastProbe]);
        var (a, b) = (gateways[0], gateways[1]);
        await using var stream = await SseClient.OpenAsync(b.HttpAddress, "/api/topics/alerts/events");
        await using var events = Inbox<string>.Of(async _ => (await stream.ReadEventAsync(TimeSpan.FromMinutes(5))).Data.GetProperty("text").GetString()!);
        using var http = a.CreateHttpClient();
        await SendUntilAsync(async _ => (await http.PostAsync("/api/topics/alerts", new StringContent("warm-up"))).EnsureSuccessStatusCode(),
            events, _ => true, "A's publish reaches B's stream");

        await nats.StopAsync();
        await Eventually.TrueAsync(async () => await a.BackplaneStatusAsync() == "Degraded" && await b.BackplaneStatusAsync() == "Degraded",
            "both backplane checks Degraded", s_timeout);
        var (status, readiness) = await a.ReadinessAsync();
        Assert.Equal(HttpStatusCode.OK, status); // Degraded leaves the instance ready: it still serves its own peers
        var check = readiness.GetProperty("checks").GetProperty("backplane");
        Assert.NotEqual("Open", check.GetProperty("data").GetProperty("client").GetString());
        Assert.StartsWith("No probe came back through NATS", check.GetProperty("description").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await a.MetricAsync("gateway_backplane_flowing"));

        // 30 publishes while NATS is down: each is answered (the local bus takes it), and the queue of 10 drops the oldest.
        var before = await a.MetricsAsync();
        for (var i = 0; i < 30; i++)
            Assert.Equal(HttpStatusCode.OK, (await http.PostAsync("/api/topics/alerts", new StringContent($"down {i}"))).StatusCode);
        await Eventually.TrueAsync(async () => await a.MetricAsync("gateway_backplane_messages_dropped_total", "reason=\"queue_full_oldest\"")
            - before.Value("gateway_backplane_messages_dropped_total", "reason=\"queue_full_oldest\"") >= 19, "the full queue drops the oldest", s_timeout);
        var down = await a.MetricsAsync();
        var droppedOldest = down.Value("gateway_backplane_messages_dropped_total", "reason=\"queue_full_oldest\"") - before.Value("gateway_backplane_messages_dropped_total", "reason=\"queue_full_oldest\"");
        // 10 wait in the queue; one more may be held by the link's sender, waiting for the client to reconnect.
        Assert.Equal(10, down.Value("gateway_backplane_queued"));
        Assert.InRange(droppedOldest, 19, 20);
        Assert.Equal("10", (await a.BackplaneCheckAsync()).GetProperty("data").GetProperty("queued").ToString());

        // Started again on the same port: a new publish on A reaches B's stream within 5 s, both links having reconnected
        // (every 0.25 to 2 s) and B having subscribed again.
        var restart = Stopwatch.StartNew();
        await nats.StartAgainAsync();
        var publishedAfter = 0;
        await SendUntilAsync(async _ =>
        {
            (await http.PostAsync("/api/topics/alerts", new StringContent($"after {publishedAfter}"))).EnsureSuccessStatusCode();
            publishedAfter++;
        }, events, text => text.StartsWith("after ", StringComparison.Ordinal), "a publish on A reaches B after the restart", TimeSpan.FromSeconds(10));
        var resumedAfter = restart.Elapsed;
        output.WriteLine($"{droppedOldest} dropped while down; delivery resumed {resumedAfter.TotalSeconds:0.00} s after the restart, at the {publishedAfter}th publish");
        Assert.True(resumedAfter <= TimeSpan.FromSeconds(5), $"delivery resumed {resumedAfter.TotalSeconds:0.00} s after the restart");

        await Eventually.TrueAsync(async () => await a.BackplaneStatusAsync() == "Healthy" && await b.BackplaneStatusAsync() == "Healthy",
            "both backplane checks Healthy again", s_timeout);
        Assert.True(await a.MetricAsync("gateway_backplane_reconnects_total") >= 1);
        Assert.True(await b.MetricAsync("gateway_backplane_reconnects_total") >= 1);
        // Every publish since the stop is accounted for on A: sent once NATS was back, or dropped by the full queue.
        await EventuallyEqualAsync(async () =>
        {
            var now = await a.MetricsAsync();
            return (30 + publishedAfter, now.Value("gateway_backplane_messages_sent_total") - before.Value("gateway_backplane_messages_sent_total")
                + now.Value("gateway_backplane_messages_dropped_total") - before.Value("gateway_backplane_messages_dropped_total"));
        }, "publishes since the stop, and A's sent_total + dropped_total since then");
        var end = await a.MetricsAsync();
        Assert.Equal(0, end.Value("gateway_backplane_queued"));
        Assert.Equal(1, end.Value("gateway_backplane_flowing"));
        // All of the drops by the full queue (the publishes after the restart may have pushed out more before A reconnected).
        Assert.Equal(end.Value("gateway_backplane_messages_dropped_total") - before.Value("gateway_backplane_messages_dropped_total"),
            end.Value("gateway_backplane_messages_dropped_total", "reason=\"queue_full_oldest\"") - before.Value("gateway_backplane_messages_dropped_total", "reason=\"queue_full_oldest\""));
        // What B's stream got of the messages published while NATS was down is among the kept ones, in order: the first,
        // which the link's sender had taken and held while the client reconnected, and the newest 10 the queue kept (or
        // fewer, when the publishes after the restart pushed more out). B gets them only if it had subscribed again before
        // A's queue drained: NATS keeps nothing for a subscriber that is not there.
        var downSeen = events.Seen.Where(text => text.StartsWith("down ", StringComparison.Ordinal)).Select(text => int.Parse(text[5..])).ToList();
        Assert.All(downSeen, number => Assert.True(number == 0 || number >= 20, $"'down {number}' should have been dropped as one of the oldest"));
        Assert.True(downSeen.SequenceEqual(downSeen.Order().Distinct()));
        output.WriteLine($"B's stream got {downSeen.Count} of the messages published while NATS was down: {string.Join(", ", downSeen)}");
    }

    /// <summary>Waits (<see cref="s_timeout"/> at most) until the two values read are equal; fails saying what they were.</summary>
    private static async Task EventuallyEqualAsync(Func<Task<(double Expected, double Actual)>> read, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var (expected, actual) = await read();
            if (expected == actual) return;
            if (clock.Elapsed > s_timeout) Assert.Fail($"{what}: still {expected} and {actual} after {s_timeout}");
            await Task.Delay(20);
        }
    }

    /// <summary>Backplane settings for a gateway that knows these NATS servers.</summary>
    private static string[] Backplane(params NatsServer[] servers) =>
        ["Gateway:Backplane:Kind=Nats", .. servers.Select((server, i) => $"Gateway:Backplane:Urls:{i}={server.Url}")];

    /// <summary>An endpoint of a name of its own (not one of appsettings.json's, whose settings would merge in) on a port the test knows.</summary>
    private static string[] Endpoint(string name, int port, string? framing, string? publish, params string[] subscribe) =>
    [
        $"Gateway:Endpoints:{name}:Protocol={(framing is null ? "Udp" : "Tcp")}",
        $"Gateway:Endpoints:{name}:Port={port}",
        .. framing is null ? Array.Empty<string>() : [$"Gateway:Endpoints:{name}:Framing:Kind={framing}"],
        .. publish is null ? Array.Empty<string>() : [$"Gateway:Endpoints:{name}:Publish={publish}"],
        .. subscribe.Select((filter, i) => $"Gateway:Endpoints:{name}:Subscribe:{i}={filter}"),
    ];

    /// <summary>Starts gateway processes side by side, each once its backplane check is Healthy.</summary>
    private static async Task<Disposables<GatewayProcess>> StartAsync(params string[][] settings)
    {
        var starting = settings.Select(each => GatewayProcess.StartAsync(each)).ToArray();
        try
        {
            await Task.WhenAll(starting);
        }
        catch
        {
            foreach (var start in starting.Where(start => start.IsCompletedSuccessfully))
                await start.Result.DisposeAsync();
            throw;
        }

        return new Disposables<GatewayProcess>([.. starting.Select(start => start.Result)]);
    }

    /// <summary>
    /// Sends (<paramref name="send"/> is given the attempt's number) every 200 ms until <paramref name="inbox"/> receives a
    /// message that matches, and returns it: the first message of a path, sent before the path's subscriptions may have
    /// reached NATS.
    /// </summary>
    private static async Task<T> SendUntilAsync<T>(Func<int, Task> send, Inbox<T> inbox, Func<T, bool> match, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        for (var attempt = 0; ; attempt++)
        {
            await send(attempt);
            if (await inbox.TryNextAsync(match, TimeSpan.FromMilliseconds(200)) is { Found: true } found) return found.Value;
            if (deadline.Elapsed > (timeout ?? s_timeout))
                throw new TimeoutException($"Still not true after {attempt + 1} attempts: {what}; received meanwhile: {string.Join(" | ", inbox.Seen.TakeLast(10))}");
        }
    }

    private static async Task<ClientWebSocket> ConnectWebSocketAsync(GatewayProcess gateway, string query)
    {
        var socket = new ClientWebSocket();
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{gateway.HttpPort}/ws{query}"), CancellationToken.None).WaitAsync(s_timeout);
        return socket;
    }

    private static Task SendTextAsync(ClientWebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);

    /// <summary>The next whole message, as text; a close ends the inbox's loop.</summary>
    private static async Task<string> ReceiveTextAsync(ClientWebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[64 * 1024];
        var count = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(count), cancellationToken);
            if (result.MessageType == WebSocketMessageType.Close) throw new EndOfStreamException($"closed: {socket.CloseStatus} {socket.CloseStatusDescription}");
            count += result.Count;
            if (result.EndOfMessage) return Encoding.UTF8.GetString(buffer, 0, count);
        }
    }

    /// <summary>Runs of missing numbers with when they were sent: "120-131 (1.49-1.55 s)".</summary>
    private static string Describe(List<int> missing, List<TimeSpan> sentAt)
    {
        var runs = new List<string>();
        for (var i = 0; i < missing.Count;)
        {
            var j = i;
            while (j + 1 < missing.Count && missing[j + 1] == missing[j] + 1) j++;
            runs.Add($"{missing[i]}-{missing[j]} ({sentAt[missing[i]].TotalSeconds:0.000}-{sentAt[missing[j]].TotalSeconds:0.000} s)");
            i = j + 1;
        }

        return runs.Count == 0 ? "none" : string.Join(", ", runs);
    }

    /// <summary>
    /// What one client receives, read by a loop of its own, so a test can wait for a message with a deadline while it
    /// keeps sending, without cancelling a read half-way. <see cref="Seen"/> keeps everything since the last <see cref="Clear"/>.
    /// </summary>
    private sealed class Inbox<T> : IAsyncDisposable
    {
        private readonly Channel<T> _messages = Channel.CreateUnbounded<T>();
        private readonly List<T> _seen = [];
        private readonly CancellationTokenSource _stop = new();
        private Task _reading = Task.CompletedTask;

        public static Inbox<T> Of(Func<CancellationToken, Task<T>> receive)
        {
            var inbox = new Inbox<T>();
            inbox._reading = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        var message = await receive(inbox._stop.Token);
                        lock (inbox._seen) inbox._seen.Add(message);
                        inbox._messages.Writer.TryWrite(message);
                    }
                }
                catch (Exception ex)
                {
                    inbox._messages.Writer.TryComplete(inbox._stop.IsCancellationRequested ? null : ex);
                }
            });
            return inbox;
        }

        public IReadOnlyList<T> Seen
        {
            get
            {
                lock (_seen) return [.. _seen];
            }
        }

        /// <summary>Forgets what was received so far (read or not).</summary>
        public void Clear()
        {
            lock (_seen) _seen.Clear();
            while (_messages.Reader.TryRead(out _))
            {
            }
        }

        /// <summary>The next message that matches; the ones before it are skipped (they stay in <see cref="Seen"/>).</summary>
        public async Task<T> NextAsync(Func<T, bool> match, TimeSpan? timeout = null)
        {
            var wait = timeout ?? s_timeout;
            if (await TryNextAsync(match, wait) is { Found: true } found) return found.Value;
            throw new TimeoutException($"No matching message within {wait}; received: {string.Join(" | ", Seen.TakeLast(10))}");
        }

        public async Task<(bool Found, T Value)> TryNextAsync(Func<T, bool> match, TimeSpan wait)
        {
            using var cts = new CancellationTokenSource(wait);
            try
            {
                while (true)
                {
                    var message = await _messages.Reader.ReadAsync(cts.Token);
                    if (match(message)) return (true, message);
                }
            }
            catch (OperationCanceledException) when (cts.IsCancellationRequested)
            {
                return (false, default!);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            // The loop ends when its client is disposed (the test's own using) or its read is cancelled; never wait on it here.
            _ = _reading;
        }
    }

    /// <summary>Things disposed together, in reverse order.</summary>
    private sealed class Disposables : IAsyncDisposable
    {
        private readonly List<IAsyncDisposable> _all = [];

        public T Add<T>(T disposable) where T : IAsyncDisposable
        {
            _all.Add(disposable);
            return disposable;
        }

        public async ValueTask DisposeAsync()
        {
            for (var i = _all.Count - 1; i >= 0; i--) await _all[i].DisposeAsync();
        }
    }

    /// <summary>Gateway processes started together, killed together.</summary>
    private sealed class Disposables<T>(T[] all) : IAsyncDisposable where T : IAsyncDisposable
    {
        public T this[int index] => all[index];

        public IReadOnlyList<T> All => all;

        public async ValueTask DisposeAsync()
        {
            foreach (var each in all) await each.DisposeAsync();
        }
    }
}
