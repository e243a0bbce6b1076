using Gateway.Tests.Backplane;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Routing;

/// <summary>Routes with the NATS backplane: every instance runs the same routes, and each message is forwarded once.</summary>
public sealed class RouteBackplaneTests
{
    [Fact]
    public async Task With_the_same_route_on_two_instances_each_message_is_forwarded_once_and_answered_on_the_instance_of_its_device()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        await using var nats = await NatsServer.StartAsync();
        string[] settings =
        [
            "Gateway:Endpoints:devices:Port=0",
            "Gateway:Endpoints:devices:Framing:Kind=Line",
            "Gateway:Endpoints:devices:Publish=devices/{connectionId}/up",
            "Gateway:Endpoints:devices:Subscribe:0=devices/{connectionId}/down",
            // A subscriber of the route's own filter on each instance: NATS brings the other instance's messages here.
            "Gateway:Endpoints:console:Port=0",
            "Gateway:Endpoints:console:Framing:Kind=Line",
            "Gateway:Endpoints:console:Subscribe:0=devices/+/up",
            "Gateway:Routes:svc:From:0=devices/+/up",
            $"Gateway:Routes:svc:To:Url={upstream.Url}",
            "Gateway:Routes:svc:ReplyTopic=devices/{connectionId}/down",
        ];
        await using var a = await BackplaneTests.StartAsync(nats, settings);
        await using var b = await BackplaneTests.StartAsync(nats, settings);
        await using var consoleOnA = await FramedClient.ConnectAsync(a.EndPointOf("console"));
        await using var consoleOnB = await FramedClient.ConnectAsync(b.EndPointOf("console"));
        await BackplaneTests.WaitForInterestAsync(a, 1);
        await BackplaneTests.WaitForInterestAsync(b, 1);
        await using var deviceOnA = await FramedClient.ConnectAsync(a.EndPointOf("devices"));
        await using var deviceOnB = await FramedClient.ConnectAsync(b.EndPointOf("devices"));
        await a.WaitForConnectionsAsync(2);
        await b.WaitForConnectionsAsync(2);

        await deviceOnA.SendLineAsync("from a");
        await deviceOnB.SendLineAsync("from b");

        Assert.Equal("re:from a", await deviceOnA.ReadLineAsync());
        Assert.Equal("re:from b", await deviceOnB.ReadLineAsync());
        // Both consoles saw both messages: the backplane carried them, and the routes still forwarded each once.
        Assert.Equal(["from a", "from b"], new[] { await consoleOnA.ReadLineAsync(), await consoleOnA.ReadLineAsync() }.Order());
        Assert.Equal(["from a", "from b"], new[] { await consoleOnB.ReadLineAsync(), await consoleOnB.ReadLineAsync() }.Order());
        Assert.Equal(["from a", "from b"], upstream.Received.Select(request => request.Body).Order());
        Assert.Equal(1, (await RouteAccounting.SettledAsync(a.HttpAddress, "svc", matched: 1)).GetProperty("succeeded").GetInt64());
        Assert.Equal(1, (await RouteAccounting.SettledAsync(b.HttpAddress, "svc", matched: 1)).GetProperty("succeeded").GetInt64());
    }
}
