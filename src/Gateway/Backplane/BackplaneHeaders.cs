using System.Diagnostics;
using System.Globalization;
using Gateway.Messaging;
using NATS.Client.Core;

namespace Gateway.Backplane;

/// <summary>
/// A message's properties as NATS headers, so a message that entered by another instance is delivered here with the
/// same content type, source endpoint, connection, remote address, timestamp and trace.
/// </summary>
internal static class BackplaneHeaders
{
    /// <summary>"{instance}-{id}": unique across instances; JetStream also drops a second copy with the same one.</summary>
    public const string MessageId = "Nats-Msg-Id";
    public const string ContentType = "Content-Type";
    public const string SourceEndpoint = "Gw-Source-Endpoint";
    public const string ConnectionId = "Gw-Connection-Id";
    public const string RemoteAddress = "Gw-Remote-Address";

    /// <summary>ISO 8601 with the offset and all seven decimals ("O"), so the time comes back to the tick.</summary>
    public const string Timestamp = "Gw-Timestamp";

    /// <summary>W3C trace context of the publish, when it was traced.</summary>
    public const string TraceParent = "traceparent";
    public const string TraceState = "tracestate";

    /// <summary>The endpoint a message is said to come from when its sender named none (a publisher that is not a gateway).</summary>
    public const string UnknownEndpoint = "backplane";

    public static NatsHeaders Write(Message message, string instanceId)
    {
        var headers = new NatsHeaders
        {
            [MessageId] = string.Concat(instanceId, "-", message.Id.ToString(CultureInfo.InvariantCulture)),
            [SourceEndpoint] = message.SourceEndpoint,
            [Timestamp] = message.Timestamp.ToString("O", CultureInfo.InvariantCulture),
        };
        if (message.ContentType is { } contentType) headers[ContentType] = contentType;
        if (message.ConnectionId is { } connectionId) headers[ConnectionId] = connectionId;
        if (message.RemoteAddress is { } remoteAddress) headers[RemoteAddress] = remoteAddress;
        if (message.PublishActivity is { } activity)
        {
            headers[TraceParent] = activity.Id;
            if (activity.TraceStateString is { } traceState) headers[TraceState] = traceState;
        }

        return headers;
    }

    /// <summary>
    /// The message the headers describe; what they leave out is filled in as a publish here would (the time now, no
    /// connection). <paramref name="id"/>: the number a shared history gave it; null for a new id of this process.
    /// </summary>
    public static Message Read(string topic, byte[] payload, NatsHeaders? headers, DateTimeOffset receivedAt, out ActivityContext traceParent, long? id = null)
    {
        traceParent = default;
        if (headers is null)
            return Create(id, topic, payload, new MessageSource(UnknownEndpoint, null, null), receivedAt, contentType: null);

        var source = new MessageSource(Last(headers, SourceEndpoint) ?? UnknownEndpoint, Last(headers, ConnectionId), Last(headers, RemoteAddress));
        var timestamp = Last(headers, Timestamp) is { } text
            && DateTimeOffset.TryParseExact(text, "O", CultureInfo.InvariantCulture, DateTimeStyles.None, out var sent) ? sent : receivedAt;
        if (Last(headers, TraceParent) is { } parent)
            ActivityContext.TryParse(parent, Last(headers, TraceState), isRemote: true, out traceParent);

        return Create(id, topic, payload, source, timestamp, Last(headers, ContentType));
    }

    private static Message Create(long? id, string topic, byte[] payload, in MessageSource source, DateTimeOffset timestamp, string? contentType) =>
        id is { } number
            ? new Message(number, topic, payload, source, timestamp, contentType) { FromOtherInstance = true }
            : new Message(topic, payload, source, timestamp, contentType) { FromOtherInstance = true };

    private static string? Last(NatsHeaders headers, string name) => headers.TryGetLastValue(name, out var value) ? value : null;
}
