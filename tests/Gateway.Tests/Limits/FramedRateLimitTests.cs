using System.Text;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Limits;

/// <summary>Each framed connection's message and byte rates (Gateway:Endpoints:{name}:Limits), under each breach policy and on each transport.</summary>
public abstract class FramedRateLimitTests(TransportKind transport)
{
    private const int Sent = 50;

    private static string[] Echo(params string[] limits) =>
    [
        "Gateway:Endpoints:echo:Port=0",
        "Gateway:Endpoints:echo:Framing:Kind=Line",
        "Gateway:Endpoints:echo:Publish=echo/{connectionId}",
        "Gateway:Endpoints:echo:Subscribe:0=echo/{connectionId}",
        .. limits.Select(limit => "Gateway:Endpoints:echo:Limits:" + limit),
    ];

    [Fact]
    public async Task Under_Drop_frames_over_the_budget_are_dropped_and_counted_while_the_connection_and_a_bystander_go_on()
    {
        await using var gateway = await TestGateway.StartAsync(transport, Echo("MessagesPerSecond=5", "OnBreach=Drop"));
        await using var greedy = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await using var bystander = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await gateway.WaitForConnectionsAsync(2);

        await greedy.SendAsync(Lines(Sent, "frame"));
        await bystander.SendLineAsync("bystander");
        Assert.Equal("bystander", await bystander.ReadLineAsync());

        // After a refill, a last frame passes: every echo before it has arrived, in order.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await greedy.SendLineAsync("last");
        var echoed = await CountEchoesUntilAsync(greedy, "last");

        Assert.InRange(echoed, 5, Sent - 1);
        Assert.Equal(Sent - echoed, (await gateway.RejectionsAsync("echo"))["rate_limited"]);
        Assert.Contains(gateway.Logs.Lines, line => line.EventId.Name == "RateLimited"
            && line.Message.Contains("sends faster than Gateway:Endpoints:echo:Limits allows: its message is dropped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Under_Pause_every_frame_arrives_and_the_pauses_are_counted()
    {
        await using var gateway = await TestGateway.StartAsync(transport, Echo("MessagesPerSecond=20"));
        await using var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        await client.SendAsync(Lines(Sent, "frame"));
        for (var i = 0; i < Sent; i++)
            Assert.Equal($"frame {i}", await client.ReadLineAsync(TimeSpan.FromSeconds(15)));

        var rejections = await gateway.RejectionsAsync("echo");
        Assert.True(rejections["rate_paused"] >= 1, "no pause was counted");
        Assert.Equal(0, rejections["rate_limited"]);
    }

    [Fact]
    public async Task Under_Disconnect_the_connection_gets_the_echoes_it_was_owed_then_closes_naming_the_setting()
    {
        await using var gateway = await TestGateway.StartAsync(transport, Echo("MessagesPerSecond=5", "OnBreach=Disconnect"));
        await using var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        await client.SendAsync(Lines(Sent, "frame"));
        for (var i = 0; i < 5; i++)
            Assert.Equal($"frame {i}", await client.ReadLineAsync());

        Assert.True(await client.WaitForCloseAsync(TimeSpan.FromSeconds(15)), "the connection over its rate was not closed");
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("(rate limit: faster than Gateway:Endpoints:echo:Limits allows)", closed.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await gateway.RejectionsAsync("echo"))["rate_limited"]);
    }

    [Fact]
    public async Task Bytes_are_limited_by_the_frames_sizes()
    {
        await using var gateway = await TestGateway.StartAsync(transport, Echo("BytesPerSecond=1000", "OnBreach=Drop"));
        await using var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        var big = new string('x', 299);
        await client.SendAsync(Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat(big + "\n", 10))));
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await client.SendLineAsync("last");
        var echoed = await CountEchoesUntilAsync(client, "last");

        Assert.InRange(echoed, 3, 6);
    }

    private static byte[] Lines(int count, string prefix) =>
        Encoding.ASCII.GetBytes(string.Concat(Enumerable.Range(0, count).Select(i => $"{prefix} {i}\n")));

    private static async Task<int> CountEchoesUntilAsync(FramedClient client, string last)
    {
        var count = 0;
        while (await client.ReadLineAsync() != last) count++;
        return count;
    }

}

public sealed class FramedRateLimitTestsOnEpoll() : FramedRateLimitTests(TransportKind.Epoll);

public sealed class FramedRateLimitTestsOnSockets() : FramedRateLimitTests(TransportKind.Sockets);
