using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Routing;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Udp;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Routing;

/// <summary>
/// Routes to TCP and UDP upstreams that the test runs on real sockets: each message is one frame or one datagram, what
/// the upstream sends back is published to the reply topic, and every matched message is accounted for.
/// </summary>
/// <remarks>
/// What a UDP route guarantees: a datagram counts as succeeded once sent, and the "port unreachable" of a service that is down
/// fails the sends that follow, which are retried and then failed and dead-lettered.
/// </remarks>
public sealed class TcpUdpRouteTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>A line endpoint whose devices publish to telemetry/{connectionId} and hear the route's answers, and a route "up" to <paramref name="kind"/>.</summary>
    private static string[] DevicesAndRoute(string kind, string address, params string[] more) =>
    [
        "Gateway:Endpoints:devices:Port=0",
        "Gateway:Endpoints:devices:Framing:Kind=Line",
        "Gateway:Endpoints:devices:Publish=telemetry/{connectionId}",
        "Gateway:Endpoints:devices:Subscribe:0=answers",
        "Gateway:Routes:up:From:0=telemetry/#",
        $"Gateway:Routes:up:To:Kind={kind}",
        $"Gateway:Routes:up:To:Address={address}",
        "Gateway:Routes:up:ReplyTopic=answers",
        .. more,
    ];

    [Fact]
    public async Task Udp_upstream_gets_each_message_as_one_datagram_and_its_datagrams_reach_the_reply_topic()
    {
        using var upstream = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)upstream.Client.LocalEndPoint!).Port;
        await using var gateway = await TestGateway.StartAsync(DevicesAndRoute("Udp", $"127.0.0.1:{port}"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);

        string[] sent = ["alarm", "temp=21.5", "door=open"];
        foreach (var line in sent)
            await device.SendLineAsync(line);

        IPEndPoint? route = null;
        foreach (var line in sent)
        {
            using var cts = new CancellationTokenSource(s_timeout);
            var datagram = await upstream.ReceiveAsync(cts.Token);
            Assert.Equal(line, Encoding.UTF8.GetString(datagram.Buffer));
            route = datagram.RemoteEndPoint;
        }

        await upstream.SendAsync("ack"u8.ToArray(), route!);
        Assert.Equal("ack", await device.ReadLineAsync(s_timeout));
        Assert.Equal(sent.Length, (await SettledAsync(gateway, sent.Length)).GetProperty("succeeded").GetInt64());
    }

    [Fact]
    public async Task Udp_upstream_that_is_down_fails_the_sends_after_retries_and_dead_letters_them()
    {
        // Nothing listens on the port: the loopback answers each datagram with ICMP port unreachable.
        int port;
        using (var closed = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
            port = ((IPEndPoint)closed.Client.LocalEndPoint!).Port;
        await using var gateway = await TestGateway.StartAsync(DevicesAndRoute("Udp", $"127.0.0.1:{port}",
            "Gateway:Routes:up:DeadLetter=dead/{connectionId}",
            "Gateway:Routes:up:Retry:MaxRetries=2",
            "Gateway:Routes:up:Retry:BaseDelay=00:00:00.020",
            // The breaker would keep the messages queued instead: this test is about retries.
            "Gateway:Routes:up:CircuitBreaker:MinimumThroughput=1000"));
        var recorder = new MessageRecorder();
        using var subscription = gateway.Services.GetRequiredService<IMessageBus>().Subscribe(TopicFilter.Parse("dead/#"), recorder);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);

        // The first datagram counts as sent: nothing says it was lost until its "port unreachable" comes back.
        await device.SendLineAsync("m0");
        var udp = (UdpUpstream)Route(gateway).Upstream;
        await Eventually.TrueAsync(() => udp.IsUnreachable, "the route heard the port is unreachable", s_timeout);
        string[] sent = ["m1", "m2", "m3", "m4"];
        foreach (var line in sent)
            await device.SendLineAsync(line);

        var route = await SettledAsync(gateway, 1 + sent.Length, s_timeout);
        Assert.Equal(sent.Length, route.GetProperty("failed").GetInt64());
        Assert.Equal(1, route.GetProperty("succeeded").GetInt64());
        Assert.Contains("refused", route.GetProperty("lastError").GetString(), StringComparison.OrdinalIgnoreCase);
        // A message is counted as failed a moment before its dead letter is published and counted.
        await Eventually.TrueAsync(() => recorder.Messages.Count == sent.Length, "every failed message was dead-lettered");
        Assert.Equal(sent, recorder.Messages.Select(message => Encoding.UTF8.GetString(message.Payload.Span)));
        Assert.Equal(sent.Length, (await RouteStateAsync(gateway)).GetProperty("deadLettered").GetInt64());
        Assert.All(recorder.Messages, message => Assert.StartsWith("dead/", message.Topic, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Tcp", null, "Gateway:Routes:up:To:Address '' is not host:port")]
    [InlineData("Tcp", "upstream.example", "Gateway:Routes:up:To:Address 'upstream.example' is not host:port")]
    [InlineData("Udp", "upstream.example:9000", "Gateway:Routes:up:To:Address 'upstream.example:9000' is not host:port with an IPv4 address")]
    [InlineData("Udp", "127.0.0.1", "Gateway:Routes:up:To:Address '127.0.0.1' is not host:port")]
    [InlineData("Udp", "127.0.0.1:0", "Gateway:Routes:up:To:Address '127.0.0.1:0' is not host:port")]
    public async Task Route_with_a_bad_upstream_address_stops_the_start_and_names_the_setting(string kind, string? address, string expected)
    {
        string[] settings =
        [
            "Gateway:Routes:up:From:0=telemetry/#",
            $"Gateway:Routes:up:To:Kind={kind}",
            .. address is null ? Array.Empty<string>() : [$"Gateway:Routes:up:To:Address={address}"],
        ];

        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(settings));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Tcp", "Gateway:Routes:up:ReplyTopic=answers/{connectionId}", "Gateway:Routes:up:ReplyTopic 'answers/{connectionId}' has placeholders")]
    [InlineData("Udp", "Gateway:Routes:up:ReplyTopic=answers/{remote}", "Gateway:Routes:up:ReplyTopic 'answers/{remote}' has placeholders")]
    [InlineData("Udp", "Gateway:Routes:up:Queue:Overflow=Disconnect", "Gateway:Routes:up:Queue:Overflow Disconnect does not apply to a route")]
    public async Task Invalid_tcp_or_udp_route_setting_stops_the_start_and_names_the_setting(string kind, string setting, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(
            "Gateway:Routes:up:From:0=telemetry/#", $"Gateway:Routes:up:To:Kind={kind}", "Gateway:Routes:up:To:Address=127.0.0.1:9", setting));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:5000", "127.0.0.1:5000")]
    [InlineData("localhost:5000", "127.0.0.1:5000")]
    [InlineData("[::1]:5000", "[::1]:5000")]
    [InlineData("::1:5000", null)]
    [InlineData("host.example:5000", null)]
    [InlineData("127.0.0.1:65536", null)]
    [InlineData("127.0.0.1:", null)]
    public void Udp_upstream_address_is_an_ip_and_port_without_name_resolution(string value, string? expected)
    {
        var parsed = UdpTargetAddress.TryParse(value, out var target);

        Assert.Equal(expected is not null, parsed);
        Assert.Equal(expected, target?.ToString());
    }

    private static Route Route(TestGateway gateway) => gateway.Services.GetRequiredService<RouteCatalog>().Routes.Single(route => route.Name == "up");

    /// <summary>Waits until nothing of route "up" is queued or in flight, checking at each look that matched = succeeded + failed + in flight + queued + dropped.</summary>
    private static async Task<JsonElement> SettledAsync(TestGateway gateway, long matched, TimeSpan? timeout = null)
    {
        JsonElement state = default;
        await Eventually.TrueAsync(async () =>
        {
            state = await RouteStateAsync(gateway);
            var dropped = state.GetProperty("dropped").EnumerateObject().Sum(reason => reason.Value.GetInt64());
            var ended = state.GetProperty("succeeded").GetInt64() + state.GetProperty("failed").GetInt64() + dropped;
            var pending = state.GetProperty("inFlight").GetInt64() + state.GetProperty("queued").GetInt64();
            Assert.True(state.GetProperty("matched").GetInt64() == ended + pending, $"matched != succeeded + failed + inFlight + queued + dropped in {state}");
            return state.GetProperty("matched").GetInt64() >= matched && pending == 0;
        }, $"route up settled after {matched} messages", timeout);
        return state;
    }

    /// <summary>Route "up" as <c>GET /api/routes</c> lists it.</summary>
    private static async Task<JsonElement> RouteStateAsync(TestGateway gateway)
    {
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var routes = await http.GetFromJsonAsync<JsonElement[]>("/api/routes");
        return routes!.Single(route => route.GetProperty("name").GetString() == "up");
    }
}
