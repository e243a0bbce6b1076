using Microsoft.Extensions.DependencyInjection;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Routing;

/// <summary>A wrong route setting stops the start with a message naming it; a route runs under its identity's permissions.</summary>
public sealed class RouteConfigurationTests
{
    private static string[] ValidRoute(params string[] overrides) =>
    [
        "Gateway:Routes:svc:From:0=devices/+/up",
        "Gateway:Routes:svc:To:Url=http://127.0.0.1:9/ingest",
        .. overrides,
    ];

    [Theory]
    [InlineData("Gateway:Routes:svc:From:0=a/#/b", "Gateway:Routes:svc:From:0")]
    [InlineData("Gateway:Routes:svc:To:Url=ftp://example.com/", "Gateway:Routes:svc:To:Url 'ftp://example.com/'")]
    [InlineData("Gateway:Routes:svc:To:HttpVersion=3", "Gateway:Routes:svc:To:HttpVersion '3'")]
    [InlineData("Gateway:Routes:svc:To:MaxConnections=0", "Gateway:Routes:svc:To:MaxConnections")]
    [InlineData("Gateway:Routes:svc:To:Kind=Carrier-Pigeon", "Gateway:Routes:svc:To:Kind")]
    [InlineData("Gateway:Routes:svc:To:Tls:CertificateAuthority=/nonexistent/ca.crt", "Gateway:Routes:svc:To:Tls:CertificateAuthority")]
    [InlineData("Gateway:Routes:svc:ReplyTopic=devices/{clientId}/down", "Gateway:Routes:svc:ReplyTopic 'devices/{clientId}/down' uses {clientId}")]
    [InlineData("Gateway:Routes:svc:DeadLetter=devices/dead/up", "Gateway:Routes:svc:DeadLetter 'devices/dead/up' matches the route's own filter")]
    [InlineData("Gateway:Routes:svc:Queue:Overflow=Disconnect", "Gateway:Routes:svc:Queue:Overflow Disconnect does not apply to a route")]
    [InlineData("Gateway:Routes:svc:Queue:Capacity=0", "Gateway:Routes:svc:Queue:Capacity")]
    [InlineData("Gateway:Routes:svc:MaxInFlight=0", "Gateway:Routes:svc:MaxInFlight")]
    [InlineData("Gateway:Routes:svc:Ttl=00:00:00", "Gateway:Routes:svc:Ttl")]
    [InlineData("Gateway:Routes:svc:AttemptTimeout=00:00:00.001", "Gateway:Routes:svc:AttemptTimeout")]
    [InlineData("Gateway:Routes:svc:Retry:MaxRetries=-1", "Gateway:Routes:svc:Retry:MaxRetries")]
    [InlineData("Gateway:Routes:svc:CircuitBreaker:FailureRatio=0", "Gateway:Routes:svc:CircuitBreaker:FailureRatio")]
    [InlineData("Gateway:Routes:svc:CircuitBreaker:MinimumThroughput=1", "Gateway:Routes:svc:CircuitBreaker:MinimumThroughput")]
    [InlineData("Gateway:Routes:svc:Ordering=Sometimes", "Gateway:Routes:svc:Ordering")]
    [InlineData("Gateway:Routes:svc:Tll=00:00:01", "Tll")]
    public async Task Invalid_route_setting_stops_the_start_and_names_the_setting(string setting, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidRoute(setting)));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_route_without_filters_or_url_names_both()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync("Gateway:Routes:svc:To:Kind=Http", "Gateway:Routes:svc:Ttl=00:01:00"));

        Assert.Contains("Gateway:Routes:svc:From needs at least one topic filter", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Gateway:Routes:svc:To:Url '' is not an absolute http:// or https:// URL", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_route_may_only_forward_what_its_identity_may_subscribe_to()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidRoute(
            "Gateway:Routes:svc:Identity=billing",
            "Gateway:Security:Permissions:billing:Subscribe:0=orders/#",
            "Gateway:Security:Permissions:billing:Publish:0=orders/#")));

        Assert.Contains("Gateway:Routes:svc:From:0 'devices/+/up' is not within what billing may subscribe to", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Answers_to_a_topic_the_identity_may_not_publish_to_are_refused_and_counted()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Endpoints:devices:Port=0",
            "Gateway:Endpoints:devices:Framing:Kind=Line",
            "Gateway:Endpoints:devices:Publish=devices/{connectionId}/up",
            "Gateway:Endpoints:devices:Subscribe:0=devices/{connectionId}/down",
            "Gateway:Security:DefaultPermissions:Publish:0=devices/#",
            "Gateway:Security:DefaultPermissions:Subscribe:0=devices/#",
            "Gateway:Security:Permissions:billing:Subscribe:0=devices/+/up",
            "Gateway:Security:Permissions:billing:Publish:0=billing/#",
            "Gateway:Routes:svc:From:0=devices/+/up",
            $"Gateway:Routes:svc:To:Url={upstream.Url}",
            "Gateway:Routes:svc:Identity=billing",
            "Gateway:Routes:svc:ReplyTopic=devices/{connectionId}/down");
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        await device.SendLineAsync("hello");

        var denied = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "PublishDenied");
        Assert.Contains("by billing on svc", denied.Message, StringComparison.Ordinal);
        // The admin API is closed to anonymous callers here, so the route's counts are read in the process.
        var route = gateway.Services.GetRequiredService<Gateway.Routing.RouteCatalog>().Routes[0];
        await Eventually.TrueAsync(() => route.Queue.Snapshot().Succeeded == 1, "the request succeeded");
        Assert.Single(upstream.Received);
    }

    [Fact]
    public async Task At_shutdown_what_cannot_reach_the_upstream_is_counted_and_dead_lettered()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        upstream.Otherwise = ScriptedUpstream.Slow(TimeSpan.FromSeconds(60));
        var gateway = await TestGateway.StartAsync(
            "Gateway:Endpoints:devices:Port=0",
            "Gateway:Endpoints:devices:Framing:Kind=Line",
            "Gateway:Endpoints:devices:Publish=devices/{connectionId}/up",
            "Gateway:Routes:svc:From:0=devices/+/up",
            $"Gateway:Routes:svc:To:Url={upstream.Url}",
            "Gateway:Routes:svc:AttemptTimeout=00:01:00",
            "Gateway:Routes:svc:DeadLetter=dead/{connectionId}",
            "Gateway:Shutdown:DrainTimeout=00:00:01");
        var catalog = gateway.Services.GetRequiredService<Gateway.Routing.RouteCatalog>();
        var deadLetters = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var watch = gateway.Services.GetRequiredService<Gateway.Messaging.IMessageBus>()
            .Subscribe(Gateway.Protocols.Topics.TopicFilter.Parse("dead/#"), new Collector(deadLetters));
        await using (var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices")))
        {
            for (var i = 0; i < 5; i++)
                await device.SendLineAsync($"m{i}");
            await Eventually.TrueAsync(() => catalog.Routes[0].Queue.Snapshot().Matched == 5, "5 matched");
        }

        await gateway.DisposeAsync();

        var counts = catalog.Routes[0].Queue.Snapshot();
        Assert.Equal(5, counts.DroppedShutdown);
        Assert.Equal(0, counts.InFlight + counts.Queued);
        Assert.Equal(["m0", "m1", "m2", "m3", "m4"], deadLetters.Order());
        Assert.Contains(gateway.Logs.Lines, line => line.EventId.Name == "RouteStopped" && line.Message.Contains("5 matched, 0 succeeded, 0 failed, 5 dropped, 5 dead-lettered", StringComparison.Ordinal));
    }

    private sealed class Collector(System.Collections.Concurrent.ConcurrentQueue<string> into) : Gateway.Messaging.IMessageSubscriber
    {
        public Gateway.Messaging.DeliveryOutcome Deliver(Gateway.Messaging.Message message)
        {
            into.Enqueue(System.Text.Encoding.UTF8.GetString(message.Payload.Span));
            return Gateway.Messaging.DeliveryOutcome.Accepted;
        }
    }
}
