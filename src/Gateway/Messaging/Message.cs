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
        : this(Interlocked.Increment(ref s_lastId), topic, payload, source, timestamp, contentType)
    {
    }

    /// <summary>A message numbered by a history kept outside this process (the backplane's stream), which gives it the same id on every instance.</summary>
    internal Message(long id, string topic, ReadOnlyMemory<byte> payload, in MessageSource source, DateTimeOffset timestamp, string? contentType = null)
    {
        Id = id;
        Topic = topic;
        Payload = payload;
        SourceEndpoint = source.Endpoint;
        ConnectionId = source.ConnectionId;
        RemoteAddress = source.RemoteAddress;
        ContentType = contentType;
        Timestamp = timestamp;
    }

    /// <summary>
    /// Unique within this process, increasing in publish order; a message read from the backplane's shared history
    /// carries its number there instead, the same on every instance.
    /// </summary>
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
    /// Whether another instance published it and the backplane brought it here; false for what entered this instance.
    /// Routes take only those: each instance forwards what enters it, so a message is forwarded once in a cluster.
    /// </summary>
    public bool FromOtherInstance { get; internal init; }

    // The encodings made so far (EncodedAs), newest first; null until an outbound adapter asks for one.
    private EncodedForm? _encoded;

    /// <summary>
    /// The span of a traced publish (an HTTP publish while tracing is on), which each delivery's span continues; null
    /// otherwise, so an untraced message costs a delivery one null test.
    /// </summary>
    internal Activity? PublishActivity;

    /// <summary>
    /// The message in <paramref name="encoding"/>'s form: made by the first subscriber that asks and shared by every other,
    /// so a fan-out encodes a message once per encoding rather than once per subscriber (SignalR's SerializedHubMessage
    /// keeps its protocols' serializations the same way).
    /// </summary>
    public byte[] EncodedAs(MessageEncoding encoding)
    {
        var known = Volatile.Read(ref _encoded);
        if (EncodedForm.Find(known, encoding) is { } found) return found;

        var bytes = encoding.Encode(this);
        while (true)
        {
            // Two subscribers may encode at once; their bytes are the same, and the first stored wins.
            var stored = Interlocked.CompareExchange(ref _encoded, new EncodedForm(encoding, bytes, known), known);
            if (stored == known) return bytes;
            known = stored;
            if (EncodedForm.Find(known, encoding) is { } other) return other;
        }
    }

    /// <summary>One encoding of the message; a short list, as a message has one encoding per outbound protocol at most.</summary>
    private sealed class EncodedForm(MessageEncoding encoding, byte[] bytes, EncodedForm? next)
    {
        private readonly MessageEncoding _encoding = encoding;
        private readonly byte[] _bytes = bytes;
        private readonly EncodedForm? _next = next;

        public static byte[]? Find(EncodedForm? form, MessageEncoding encoding)
        {
            for (; form is not null; form = form._next)
            {
                if (ReferenceEquals(form._encoding, encoding)) return form._bytes;
            }

            return null;
        }
    }
}

/// <summary>
/// A form an outbound adapter sends messages in, byte for byte the same for every subscriber (a server WebSocket frame,
/// for instance); <see cref="Message.EncodedAs"/> makes it once per message. One instance per form: it is the cache's key.
/// </summary>
public abstract class MessageEncoding
{
    /// <summary>The message's bytes in this form; called at most a few times per message, by whichever subscriber comes first.</summary>
    protected internal abstract byte[] Encode(Message message);
}

/// <summary>Where a message entered the gateway; one per connection, reused for each of its messages.</summary>
public readonly record struct MessageSource(string Endpoint, string? ConnectionId, string? RemoteAddress);
