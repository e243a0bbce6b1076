using System.Net.WebSockets;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static Gateway.Tests.WebSockets.WebSocketClient;

namespace Gateway.Tests.Connections;

/// <summary>Closing a WebSocket or an event stream (an admin's disconnect, or shutdown) first sends what its outbox holds.</summary>
public sealed class GracefulCloseTests
{
    private const int Queued = 500;

    [Fact]
    public async Task A_websocket_closed_with_messages_queued_sends_them_all_before_its_close_frame()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var socket = await ConnectAsync(gateway, "?subscribe=news");
        await gateway.WaitForConnectionsAsync(1);

        PublishThenClose(gateway, "ws");

        var received = new List<string>();
        while (true)
        {
            var (type, text) = await ReceiveAsync(socket);
            if (type == WebSocketMessageType.Close) break;
            received.Add(text);
        }

        Assert.Equal(Enumerable.Range(0, Queued).Select(i => i.ToString()), received);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
    }

    [Fact]
    public async Task An_event_stream_closed_with_messages_queued_sends_them_all_before_it_ends()
    {
        await using var gateway = await TestGateway.StartAsync();
        await using var stream = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/news/events");
        await gateway.WaitForConnectionsAsync(1);

        PublishThenClose(gateway, "sse");

        var received = new List<string>();
        try
        {
            while (true) received.Add((await stream.ReadEventAsync()).Data.GetProperty("text").GetString()!);
        }
        catch (EndOfStreamException)
        {
        }

        Assert.Equal(Enumerable.Range(0, Queued).Select(i => i.ToString()), received);
    }

    [Fact]
    public async Task A_websocket_that_stops_reading_is_cut_off_instead_of_holding_its_close_open()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var socket = await ConnectAsync(gateway, "?subscribe=news");
        await gateway.WaitForConnectionsAsync(1);
        var registry = gateway.Services.GetRequiredService<ConnectionRegistry>();
        var bus = gateway.Services.GetRequiredService<IMessageBus>();

        // 1,000 messages of 64 KiB: more than the socket buffers hold, with the client reading none of them.
        var payload = new byte[64 * 1024];
        for (var i = 0; i < 1000; i++)
            bus.Publish(new Message("news", payload, new MessageSource("test", null, null), DateTimeOffset.UtcNow));
        registry.All.Single().Close("closed by admin");

        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed", TimeSpan.FromSeconds(15));
        Assert.Contains("(closed by admin)", closed.Message, StringComparison.Ordinal);
        Assert.Equal(0, registry.Count);
    }

    /// <summary>Queues messages for the peer without waking its writer (one delivery batch), and closes it inside the batch.</summary>
    private static void PublishThenClose(TestGateway gateway, string protocol)
    {
        var bus = gateway.Services.GetRequiredService<IMessageBus>();
        var peer = gateway.Services.GetRequiredService<ConnectionRegistry>().All.Single(connection => connection.Protocol == protocol);
        using (DeliveryBatch.Begin())
        {
            for (var i = 0; i < Queued; i++)
                bus.Publish(new Message("news", System.Text.Encoding.UTF8.GetBytes(i.ToString()), new MessageSource("test", null, null), DateTimeOffset.UtcNow));
            peer.Close("closed by admin");
        }
    }
}
