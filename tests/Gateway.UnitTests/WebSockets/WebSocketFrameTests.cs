using System.Net.WebSockets;
using Gateway.Messaging;
using Gateway.WebSockets;

namespace Gateway.UnitTests.WebSockets;

/// <summary>The frame encoded once per message reads back, through .NET's own client WebSocket, as the message.</summary>
public sealed class WebSocketFrameTests
{
    [Theory]
    [InlineData(0, MessagePayload.TextContentType, WebSocketMessageType.Text)]
    [InlineData(125, MessagePayload.TextContentType, WebSocketMessageType.Text)] // the largest 7-bit length
    [InlineData(126, MessagePayload.BinaryContentType, WebSocketMessageType.Binary)] // the first 16-bit length
    [InlineData(65_535, MessagePayload.BinaryContentType, WebSocketMessageType.Binary)]
    [InlineData(65_536, MessagePayload.TextContentType, WebSocketMessageType.Text)] // the first 64-bit length
    public async Task A_clients_WebSocket_reads_the_frame_as_the_message(int length, string? contentType, WebSocketMessageType expectedType)
    {
        var payload = Enumerable.Range(0, length).Select(i => (byte)('a' + i % 26)).ToArray();
        var message = new Message("t", payload, new MessageSource("test", null, null), DateTimeOffset.UtcNow, contentType);

        var frame = WebSocketFrame.Of(message);
        using var client = WebSocket.CreateFromStream(new MemoryStream(frame), new WebSocketCreationOptions { IsServer = false });
        var received = new byte[length + 1];
        var result = await client.ReceiveAsync(received, CancellationToken.None);

        Assert.Equal((expectedType, true, length), (result.MessageType, result.EndOfMessage, result.Count));
        Assert.Equal(payload, received[..length]);
        Assert.Same(frame, WebSocketFrame.Of(message));
    }
}
