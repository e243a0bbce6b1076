using Gateway.Configuration;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gateway.Tests.Limits;

/// <summary>Every framed endpoint has an idle timeout unless it is turned off, so a peer that only holds a socket does not hold it for good.</summary>
public sealed class IdleTimeoutDefaultTests
{
    private static string[] Echo(string name, params string[] extra) =>
    [
        $"Gateway:Endpoints:{name}:Port=0",
        $"Gateway:Endpoints:{name}:Framing:Kind=Line",
        $"Gateway:Endpoints:{name}:Publish=echo/{{connectionId}}",
        $"Gateway:Endpoints:{name}:Subscribe:0=echo/{{connectionId}}",
        .. extra,
    ];

    [Fact]
    public async Task An_endpoint_that_sets_no_idle_timeout_gets_five_minutes()
    {
        await using var gateway = await TestGateway.StartAsync(Echo("echo"));

        var options = gateway.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;

        Assert.Equal(TimeSpan.FromMinutes(5), options.Endpoints["echo"].IdleTimeout);
    }

    [Fact]
    public async Task Zero_turns_the_idle_timeout_off_while_another_endpoint_closes_its_idle_peer()
    {
        await using var gateway = await TestGateway.StartAsync(
            [.. Echo("quick", "Gateway:Endpoints:quick:IdleTimeout=00:00:01"), .. Echo("forever", "Gateway:Endpoints:forever:IdleTimeout=0")]);
        await using var forever = await FramedClient.ConnectAsync(gateway.EndPointOf("forever"));
        await using var quick = await FramedClient.ConnectAsync(gateway.EndPointOf("quick"));
        await gateway.WaitForConnectionsAsync(2);

        Assert.True(await quick.WaitForCloseAsync(TimeSpan.FromSeconds(10)), "the idle peer of 'quick' was not closed");
        // Two more heartbeats, so 'forever' has been idle well past the other's timeout.
        await Task.Delay(TimeSpan.FromSeconds(2));

        await forever.SendLineAsync("still open");
        Assert.Equal("still open", await forever.ReadLineAsync());
    }
}
