using System.Diagnostics;

namespace Gateway.Messaging;

/// <summary>
/// One message on the bus. Immutable: the payload is copied once out of the protocol's buffer
/// and that single copy is shared by every subscriber.
/// </summary>
public sealed class Message
{
    private static long s_lastId;

    /// <param name="timestamp">When the message entered the gateway. A read loop passes one value for all the frames of one read, to take the clock once per read rather than once per frame.</param>
    public Message(string topic, ReadOnlyMemory<byte> payload, in MessageSource source, DateTimeOffset timestamp, string? contentType = null)
    {
        Id = Interlocked.Increment(ref s_lastId);
        Topic = topic;
        Payload = payload;
        SourceEndpoint = source.Endpoint;
        ConnectionId = source.ConnectionId;
        RemoteAddress = source.RemoteAddress;
        ContentType = contentType;
        Timestamp = timestamp;
    }

    /// <summary>Unique within this process, increasing in publish order.</summary>
    public long Id { get; }

    public string Topic { get; }

    public ReadOnlyMemory<byte> Payload { get; }

    public string SourceEndpoint { get; }

    public string? ConnectionId { get; }

    public string? RemoteAddress { get; }

    /// <summary>MIME type when the protocol carries one (HTTP, WebSocket text); null for raw frames.</summary>
    public string? ContentType { get; }

    public DateTimeOffset Timestamp { get; }

    /// <summary>
    /// The message as a server WebSocket frame, made by the first raw-mode subscriber that sends it and reused by
    /// the others (<see cref="WebSockets.WebSocketFrame"/>); null until then. A field, for Interlocked.
    /// </summary>
    internal byte[]? EncodedWebSocketFrame;

    /// <summary>
    /// The span of a traced publish (an HTTP publish while tracing is on), which each delivery's span continues; null
    /// otherwise, so an untraced message costs a delivery one null test.
    /// </summary>
    internal Activity? PublishActivity;
}

/// <summary>Where a message entered the gateway; one per connection, reused for each of its messages.</summary>
public readonly record struct MessageSource(string Endpoint, string? ConnectionId, string? RemoteAddress);
