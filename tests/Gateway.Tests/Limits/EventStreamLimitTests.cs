using System.Net;
using Gateway.Connections;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Limits;

/// <summary>Event streams' limits: streams per client address, and the idle timeout of a stream that sends no event.</summary>
public sealed class EventStreamLimitTests
{
    [Fact]
    public async Task A_stream_beyond_the_per_address_cap_gets_429_and_the_place_comes_back_when_a_stream_ends()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:Sse:Limits:MaxConnectionsPerAddress=1");
        await using var first = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/a/events");
        Assert.Equal(HttpStatusCode.OK, first.Response.StatusCode);

        await using (var second = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/b/events"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, second.Response.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(1), second.Response.Headers.RetryAfter?.Delta);
        }

        await first.DisposeAsync();
        var registry = gateway.Services.GetRequiredService<ConnectionRegistry>();
        await Eventually.TrueAsync(() => registry.Count == 0, "the first stream ended");
        await using var third = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/c/events");
        Assert.Equal(HttpStatusCode.OK, third.Response.StatusCode);

        Assert.Equal(1, (await gateway.RejectionsAsync("http"))["max_connections_per_address"]);
    }

    [Fact]
    public async Task A_stream_that_sends_no_event_for_its_idle_timeout_ends_while_a_busy_one_stays()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:Sse:IdleTimeout=00:00:02", "Gateway:Http:Sse:KeepAliveInterval=00:00:00.5");
        await using var quiet = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/quiet/events");
        await using var busy = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/busy/events");
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        await gateway.WaitForConnectionsAsync(2);

        // Keep-alive comments flow to both meanwhile; only events count as activity.
        var ended = Assert.ThrowsAsync<EndOfStreamException>(() => quiet.ReadEventAsync(TimeSpan.FromSeconds(15)));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!ended.IsCompleted && DateTime.UtcNow < deadline)
        {
            await http.PostAsync("/api/topics/busy", new StringContent("tick"));
            await busy.ReadEventAsync();
            await Task.Delay(250);
        }

        await ended;
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("(idle timeout)", closed.Message);
        await http.PostAsync("/api/topics/busy", new StringContent("still here"));
        Assert.Equal("still here", (await busy.ReadEventAsync()).Data.GetProperty("text").GetString());
    }
}
