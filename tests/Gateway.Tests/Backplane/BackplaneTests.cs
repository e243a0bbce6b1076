using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Backplane;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Backplane;

/// <summary>Two or more gateway instances joined through a real nats-server: one topic space, local-first, nothing twice.</summary>
public sealed class BackplaneTests
{
    [Fact]
    public async Task A_message_published_on_one_instance_reaches_streams_on_another_looking_the_same()
    {
        await using var nats = await NatsServer.StartAsync();
        await using var a = await StartAsync(nats);
        await using var b = await StartAsync(nats);
        await using var onA = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/sensors/+/events");
        await using var onB = await SseClient.OpenAsync(b.HttpAddress, "/api/topics/sensors/+/events");
        await WaitForInterestAsync(a, 1);

        using var http = new HttpClient { BaseAddress = b.HttpAddress };
        var response = await http.PostAsync("/api/topics/sensors/t1", new StringContent("21.5", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var (_, remote) = await onA.ReadEventAsync();
        var (_, local) = await onB.ReadEventAsync();
        Assert.Equal("sensors/t1", remote.GetProperty("topic").GetString());
        Assert.Equal("21.5", remote.GetProperty("text").GetString());
        // The same content type and the same timestamp, to the tick, whichever instance the stream is on.
        Assert.Equal(local.GetProperty("contentType").GetString(), remote.GetProperty("contentType").GetString());
        Assert.Equal(local.GetProperty("timestamp").GetString(), remote.GetProperty("timestamp").GetString());
        Assert.Equal(1, Link(a).Counters.Received);
        Assert.Equal(1, Link(b).Counters.Sent);
    }

    [Fact]
    public async Task Each_stream_gets_a_message_once_however_its_filters_overlap_and_no_instance_hears_its_own_publish_back()
    {
        await using var nats = await NatsServer.StartAsync();
        await using var a = await StartAsync(nats);
        await using var b = await StartAsync(nats);
        // Overlapping filters on both instances: B holds two NATS subscriptions that both match, and receives two copies.
        await using var wideOnA = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/x/%23/events");
        await using var exactOnA = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/x/y/events");
        await using var wideOnB = await SseClient.OpenAsync(b.HttpAddress, "/api/topics/x/%23/events");
        await using var exactOnB = await SseClient.OpenAsync(b.HttpAddress, "/api/topics/x/y/events");
        await WaitForInterestAsync(a, 3); // "x/#" is two subjects, "x/y" one
        await WaitForInterestAsync(b, 3);

        using var http = new HttpClient { BaseAddress = a.HttpAddress };
        await http.PostAsync("/api/topics/x/y", new StringContent("first"));
        await http.PostAsync("/api/topics/x/y", new StringContent("second"));

        // Each stream reads "first" then "second": a duplicate would come between them.
        foreach (var stream in new[] { wideOnA, exactOnA, wideOnB, exactOnB })
        {
            Assert.Equal("first", (await stream.ReadEventAsync()).Data.GetProperty("text").GetString());
            Assert.Equal("second", (await stream.ReadEventAsync()).Data.GetProperty("text").GetString());
        }

        Assert.Equal(2, Link(a).Counters.Sent); // once to NATS per publish
        Assert.Equal(4, Link(b).Counters.Received); // one copy per matching subscription, each to its own filter's stream
        Assert.Equal(0, Link(a).Counters.Received); // no echo
    }

    [Fact]
    public async Task Interest_follows_local_subscribers_subscribing_with_the_first_and_unsubscribing_after_the_last()
    {
        await using var nats = await NatsServer.StartAsync();
        // Without the event-stream history, which keeps recording a filter for minutes after its last stream.
        await using var a = await StartAsync(nats, "Gateway:Http:Sse:HistoryPerTopic=0");
        var link = Link(a);
        var first = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/rooms/1/events");
        var second = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/rooms/1/events");
        await WaitForInterestAsync(a, 1);
        Assert.Equal(1, link.Counters.Subscriptions); // two subscribers, one NATS subscription

        await first.DisposeAsync();
        await Task.Delay(200);
        Assert.Equal(1, link.Counters.Subscriptions);
        await second.DisposeAsync();
        await Eventually.TrueAsync(() => link.Counters.Subscriptions == 0, "the last subscriber's leaving unsubscribes on NATS");
    }

    [Fact]
    public async Task With_NATS_down_the_local_bus_serves_the_queue_drops_by_its_policy_and_after_a_restart_subscriptions_are_back()
    {
        await using var nats = await NatsServer.StartAsync();
        await using var a = await StartAsync(nats, "Gateway:Backplane:Outbox:Capacity=10");
        await using var b = await StartAsync(nats);
        await using var onA = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/alerts/events");
        await WaitForInterestAsync(a, 1);

        await nats.StopAsync();
        await Eventually.TrueAsync(() => !Link(a).Probe.IsFlowing, "the link is seen down", TimeSpan.FromSeconds(15));
        using var httpA = new HttpClient { BaseAddress = a.HttpAddress };
        var ready = await httpA.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode); // the default: a down link leaves the instance ready, Degraded
        var check = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("checks").GetProperty("backplane");
        Assert.Equal("Degraded", check.GetProperty("status").GetString());

        // The local bus keeps working: A's own stream receives A's publishes at once.
        for (var i = 0; i < 30; i++)
            await httpA.PostAsync("/api/topics/alerts", new StringContent($"down {i}"));
        Assert.Equal("down 0", (await onA.ReadEventAsync()).Data.GetProperty("text").GetString());
        // 30 queued for NATS, room for 10 (and one more the sender holds while it waits): the oldest are dropped and counted.
        await Eventually.TrueAsync(() => Link(a).Dropped(LinkDropReason.QueueFullOldest) >= 19, "the full queue drops the oldest");
        var sentBefore = Link(a).Counters.Sent;

        await nats.StartAgainAsync();
        await Eventually.TrueAsync(() => Link(a).Probe.IsFlowing && Link(b).Probe.IsFlowing, "both links flow again", TimeSpan.FromSeconds(20));
        // What the queue kept went out after the reconnect.
        await Eventually.TrueAsync(() => Link(a).Counters.Sent - sentBefore >= 10, "the queued messages are sent");
        Assert.Equal(30, Link(a).Counters.Sent - sentBefore + Link(a).Dropped(LinkDropReason.QueueFullOldest));
        Assert.True(Link(a).Counters.Reconnects >= 1);

        // A's subscription is in place on the new server: B's publish reaches A's stream.
        for (var i = 1; i < 30; i++) await onA.ReadEventAsync(); // A's own 29 others
        using var httpB = new HttpClient { BaseAddress = b.HttpAddress };
        await httpB.PostAsync("/api/topics/alerts", new StringContent("from b after the restart"));
        Assert.Equal("from b after the restart", (await onA.ReadEventAsync()).Data.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Readiness_goes_red_when_messages_stop_flowing_although_the_client_believes_it_is_connected()
    {
        await using var nats = await NatsServer.StartAsync();
        await using var proxy = await TcpProxy.StartAsync(nats.Port);
        await using var a = await TestGateway.StartAsync(
            "Gateway:Backplane:Kind=Nats", $"Gateway:Backplane:Urls:0=nats://127.0.0.1:{proxy.Port}",
            "Gateway:Backplane:RequiredForReadiness=true", "Gateway:Backplane:ProbeInterval=00:00:00.200", "Gateway:Backplane:ProbeTimeout=00:00:01");
        using var http = new HttpClient { BaseAddress = a.HttpAddress };
        await Eventually.TrueAsync(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "ready with the link flowing", TimeSpan.FromSeconds(15));

        proxy.Freeze(); // bytes stop in both directions; both sockets stay open
        await Eventually.TrueAsync(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, "not ready once probes stop coming back");
        var check = JsonDocument.Parse(await (await http.GetAsync("/readyz")).Content.ReadAsStringAsync()).RootElement.GetProperty("checks").GetProperty("backplane");
        Assert.Equal("Unhealthy", check.GetProperty("status").GetString());
        Assert.Equal("Open", check.GetProperty("data").GetProperty("client").GetString());
        await a.Logs.WaitForAsync(line => line.Message.Contains("Backplane messages are not flowing") && line.Message.Contains("Open"));

        proxy.Thaw();
        await Eventually.TrueAsync(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "ready again once probes come back");
        await a.Logs.WaitForAsync(line => line.Message.Contains("Backplane messages flow through NATS"));
    }

    [Fact]
    public async Task The_link_fails_over_to_another_server_of_the_cluster_and_its_subscriptions_follow()
    {
        int clusterPort1 = FreePort.Next(), clusterPort2 = FreePort.Next(), port2 = FreePort.Next();
        string[] cluster1 = ["--cluster_name", "gw", "--cluster", $"nats://127.0.0.1:{clusterPort1}", "--routes", $"nats://127.0.0.1:{clusterPort2}"];
        string[] cluster2 = ["--cluster_name", "gw", "--cluster", $"nats://127.0.0.1:{clusterPort2}", "--routes", $"nats://127.0.0.1:{clusterPort1}"];
        await using var nats1 = await NatsServer.StartAsync(cluster1);
        // A knows both servers; the second is not up yet, so A starts on the first (the client otherwise picks at random).
        await using var a = await StartAsync(nats1, $"Gateway:Backplane:Urls:1=nats://127.0.0.1:{port2}");
        await using var nats2 = await NatsServer.StartAsync(port2, cluster2);
        await using var b = await StartAsync(nats2);
        await using var onA = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/orders/%23/events");
        await WaitForInterestAsync(a, 2);
        using var httpB = new HttpClient { BaseAddress = b.HttpAddress };
        // Through the route between the servers: the interest may take a moment to reach nats2.
        await Eventually.TrueAsync(async () =>
        {
            await httpB.PostAsync("/api/topics/orders/1", new StringContent("before"));
            return Link(a).Counters.Received > 0;
        }, "a message from nats2 reaches A on nats1");
        Assert.Equal("before", (await onA.ReadEventAsync()).Data.GetProperty("text").GetString());

        await nats1.StopAsync();
        await Eventually.TrueAsync(() => Link(a).Counters.Reconnects >= 1 && Link(a).Probe.IsFlowing, "A reconnects to nats2 and flows", TimeSpan.FromSeconds(20));
        var received = Link(a).Counters.Received;
        await httpB.PostAsync("/api/topics/orders/2", new StringContent("after"));
        await Eventually.TrueAsync(() => Link(a).Counters.Received > received, "B's publish reaches A on nats2");
        while ((await onA.ReadEventAsync()).Data.GetProperty("text").GetString() != "after")
        {
            // earlier "before" retries
        }
    }

    [Fact]
    public async Task The_link_authenticates_with_a_user_and_password_or_a_token()
    {
        await using var withUser = await NatsServer.StartAsync("--user", "gateway", "--pass", "s3cret");
        await using var a = await StartAsync(withUser, "Gateway:Backplane:Username=gateway", "Gateway:Backplane:Password=s3cret");
        await using var withToken = await NatsServer.StartAsync("--auth", "t0ken");
        await using var b = await StartAsync(withToken, "Gateway:Backplane:Token=t0ken");
        Assert.True(Link(a).Probe.IsFlowing);
        Assert.True(Link(b).Probe.IsFlowing);
    }

    [Fact]
    public async Task Refused_credentials_are_logged_once_with_the_reason_and_the_check_stays_red()
    {
        await using var nats = await NatsServer.StartAsync("--user", "gateway", "--pass", "s3cret");
        await using var a = await TestGateway.StartAsync("Gateway:Backplane:Kind=Nats", $"Gateway:Backplane:Urls:0={nats.Url}",
            "Gateway:Backplane:Username=gateway", "Gateway:Backplane:Password=wrong");

        var line = await a.Logs.WaitForAsync(line => line.Message.StartsWith("Backplane could not connect to NATS", StringComparison.Ordinal), TimeSpan.FromSeconds(15));
        Assert.Contains(nats.Url, line.Message);
        Assert.Contains("authentication", line.Message, StringComparison.OrdinalIgnoreCase);
        using var http = new HttpClient { BaseAddress = a.HttpAddress };
        var check = JsonDocument.Parse(await http.GetStringAsync("/readyz")).RootElement.GetProperty("checks").GetProperty("backplane");
        Assert.Equal("Degraded", check.GetProperty("status").GetString());
        Assert.Equal("Failed", check.GetProperty("data").GetProperty("client").GetString());
    }

    [Theory]
    [InlineData("Gateway:Backplane:Kind=Natss", "Gateway:Backplane:Kind")]
    [InlineData("Gateway:Backplane:Kind=Nats", "Gateway:Backplane:Urls must name at least one NATS server")]
    [InlineData("Gateway:Backplane:Urls:0=http://nats:4222", "Gateway:Backplane:Urls:0 'http://nats:4222' is not a NATS server URL")]
    [InlineData("Gateway:Backplane:SubjectPrefix=gw.*", "Gateway:Backplane:SubjectPrefix 'gw.*'")]
    [InlineData("Gateway:Backplane:Outbox:Overflow=Disconnect", "Gateway:Backplane:Outbox:Overflow must be DropOldest or DropNewest")]
    [InlineData("Gateway:Backplane:Token=t", "set one kind of credentials, not Username/Password and Token")]
    [InlineData("Gateway:Backplane:CredentialsFile=/nonexistent/gw.creds", "Gateway:Backplane:CredentialsFile '/nonexistent/gw.creds' does not exist")]
    [InlineData("Gateway:Backplane:Tls:CertificateAuthority=/nonexistent/ca.crt", "Gateway:Backplane:Tls:CertificateAuthority")]
    public async Task A_bad_backplane_setting_stops_the_start_naming_it(string setting, string expected)
    {
        string[] valid = ["Gateway:Backplane:Kind=Nats", "Gateway:Backplane:Urls:0=nats://127.0.0.1:4222", "Gateway:Backplane:Username=u"];
        string[] settings = setting.StartsWith("Gateway:Backplane:Kind=Nats", StringComparison.Ordinal) ? [setting] : [.. valid, setting];
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(settings));
        Assert.Contains(expected, failure.Message);
    }

    /// <summary>A gateway on the backplane of <paramref name="nats"/>, started once its link flows.</summary>
    internal static async Task<TestGateway> StartAsync(NatsServer nats, params string[] settings)
    {
        var gateway = await TestGateway.StartAsync(["Gateway:Backplane:Kind=Nats", $"Gateway:Backplane:Urls:0={nats.Url}", .. settings]);
        await Eventually.TrueAsync(() => Link(gateway).Probe.IsFlowing, "the link flows", TimeSpan.FromSeconds(15));
        return gateway;
    }

    internal static NatsLink Link(TestGateway gateway) => gateway.Services.GetRequiredService<NatsLink>();

    /// <summary>
    /// Waits until the link holds <paramref name="subscriptions"/> NATS subscriptions and the server has them: a ping
    /// answered after the SUB lines means the server processed them.
    /// </summary>
    internal static async Task WaitForInterestAsync(TestGateway gateway, int subscriptions)
    {
        await Eventually.TrueAsync(() => Link(gateway).Counters.Subscriptions >= subscriptions, $"{subscriptions} NATS subscriptions");
        await Link(gateway).Connection.PingAsync();
    }
}
