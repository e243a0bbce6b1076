using System.Net;
using System.Net.WebSockets;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.WebSockets.WebSocketClient;

namespace Gateway.Tests.Limits;

/// <summary>WebSocket limits (Gateway:Http:WebSocket:Limits and IdleTimeout) with .NET's ClientWebSocket.</summary>
public sealed class WebSocketRateLimitTests
{
    private const int Sent = 30;
    private const string Echo = "?publish=echo&subscribe=echo";

    [Fact]
    public async Task Under_Drop_messages_over_the_budget_are_dropped_and_counted_and_the_socket_stays_open()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:WebSocket:Limits:MessagesPerSecond=5", "Gateway:Http:WebSocket:Limits:OnBreach=Drop");
        using var socket = await ConnectAsync(gateway, Echo);

        for (var i = 0; i < Sent; i++) await SendTextAsync(socket, $"m{i}");
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        await SendTextAsync(socket, "last");
        var echoed = 0;
        while ((await ReceiveAsync(socket)).Text != "last") echoed++;

        Assert.InRange(echoed, 5, Sent - 1);
        Assert.Equal(Sent - echoed, (await gateway.RejectionsAsync("ws"))["rate_limited"]);
    }

    [Fact]
    public async Task Under_Pause_every_message_arrives()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:WebSocket:Limits:MessagesPerSecond=20");
        using var socket = await ConnectAsync(gateway, Echo);

        for (var i = 0; i < Sent; i++) await SendTextAsync(socket, $"m{i}");
        for (var i = 0; i < Sent; i++) Assert.Equal($"m{i}", (await ReceiveAsync(socket)).Text);

        var rejections = await gateway.RejectionsAsync("ws");
        Assert.True(rejections["rate_paused"] >= 1, "no pause was counted");
        Assert.Equal(0, rejections["rate_limited"]);
    }

    [Fact]
    public async Task Under_Disconnect_the_socket_is_closed_with_1008_naming_the_setting()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:WebSocket:Limits:MessagesPerSecond=5", "Gateway:Http:WebSocket:Limits:OnBreach=Disconnect");
        using var socket = await ConnectAsync(gateway, Echo);

        for (var i = 0; i < Sent; i++) await SendTextAsync(socket, $"m{i}");
        WebSocketReceiveResult result;
        var buffer = new byte[1024];
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            do result = await socket.ReceiveAsync(buffer, timeout.Token);
            while (result.MessageType != WebSocketMessageType.Close);
        }

        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("(rate limit: faster than Gateway:Http:WebSocket:Limits allows)", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_socket_beyond_the_per_address_cap_gets_429_before_the_upgrade()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:WebSocket:Limits:MaxConnectionsPerAddress=1");
        using var first = await ConnectAsync(gateway, Echo);
        using var second = new ClientWebSocket();
        second.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => second.ConnectAsync(WsUri(gateway, Echo), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(HttpStatusCode.TooManyRequests, second.HttpStatusCode);
        Assert.Equal(1, (await gateway.RejectionsAsync("ws"))["max_connections_per_address"]);
        await SendTextAsync(first, "still served");
        Assert.Equal("still served", (await ReceiveAsync(first)).Text);
    }

    [Fact]
    public async Task A_socket_idle_for_its_timeout_is_closed_while_pings_flow_and_a_busy_one_stays()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:WebSocket:IdleTimeout=00:00:02", "Gateway:Http:WebSocket:KeepAliveInterval=00:00:00.5");
        using var idle = await ConnectAsync(gateway, "?subscribe=nothing");
        using var busy = await ConnectAsync(gateway, "?publish=busy&subscribe=busy");

        var idleClosed = ReceiveCloseAsync(idle);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!idleClosed.IsCompleted && DateTime.UtcNow < deadline)
        {
            await SendTextAsync(busy, "tick");
            Assert.Equal("tick", (await ReceiveAsync(busy)).Text);
            await Task.Delay(250);
        }

        Assert.Equal(WebSocketCloseStatus.NormalClosure, await idleClosed);
        await SendTextAsync(busy, "still open");
        Assert.Equal("still open", (await ReceiveAsync(busy)).Text);
        // The client answers the close, so the handshake ends and the close line is written.
        await idle.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("(idle timeout)", closed.Message, StringComparison.Ordinal);
    }

    private static async Task<WebSocketCloseStatus?> ReceiveCloseAsync(ClientWebSocket socket)
    {
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while ((await socket.ReceiveAsync(buffer, timeout.Token)).MessageType != WebSocketMessageType.Close)
        {
        }

        return socket.CloseStatus;
    }

}
