namespace Gateway.Udp;

/// <summary>Log lines of UDP endpoints. Event ids 300-399. Nothing here is written once per datagram above Debug.</summary>
internal static partial class UdpLog
{
    [LoggerMessage(EventId = 300, EventName = "UdpEndpointListening", Level = LogLevel.Information,
        Message = "UDP endpoint {Endpoint} listening on {Address} (publish {Publish}, subscribe [{Subscribe}], deliveries to {Deliveries})")]
    public static partial void EndpointListening(ILogger logger, string endpoint, string address, string publish, string subscribe, string deliveries);

    [LoggerMessage(EventId = 301, EventName = "UdpEndpointClosed", Level = LogLevel.Information,
        Message = "UDP endpoint {Endpoint} on {Address} closed; in {DatagramsIn} datagrams {BytesIn} bytes, out {DatagramsOut} datagrams {BytesOut} bytes; dropped {DroppedOversize} oversize, {DroppedTruncated} truncated, {DroppedRateLimited} rate-limited, {DroppedUnsendable} unsendable, {DroppedUnroutable} unroutable")]
    public static partial void EndpointClosed(ILogger logger, string endpoint, string address, long datagramsIn, long bytesIn, long datagramsOut, long bytesOut,
        long droppedOversize, long droppedTruncated, long droppedRateLimited, long droppedUnsendable, long droppedUnroutable);

    [LoggerMessage(EventId = 302, EventName = "UdpReceiveFailed", Level = LogLevel.Error,
        Message = "UDP endpoint {Endpoint} failed while receiving; it keeps listening")]
    public static partial void ReceiveFailed(ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(EventId = 303, EventName = "UdpPeerTracked", Level = LogLevel.Information,
        Message = "UDP peer {ConnectionId} on {Endpoint} tracked from {Remote}")]
    public static partial void PeerTracked(ILogger logger, string connectionId, string endpoint, string remote);

    [LoggerMessage(EventId = 304, EventName = "UdpPeerForgotten", Level = LogLevel.Information,
        Message = "UDP peer {ConnectionId} on {Endpoint} from {Remote} forgotten after {DurationMs} ms ({Reason}); in {BytesIn} bytes {DatagramsIn} datagrams, out {BytesOut} bytes {DatagramsOut} datagrams")]
    public static partial void PeerForgotten(ILogger logger, string connectionId, string endpoint, string remote, long durationMs, string reason,
        long bytesIn, long datagramsIn, long bytesOut, long datagramsOut);

    [LoggerMessage(EventId = 305, EventName = "UdpDatagramDropped", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} dropped a datagram from {Remote} ({Reason}); {Count} dropped for that reason so far")]
    public static partial void DatagramDropped(ILogger logger, string endpoint, string remote, string reason, long count);

    [LoggerMessage(EventId = 306, EventName = "UdpDeliveryDropped", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} could not send a message on {Topic} to {Remote} ({Reason}); {Count} unsendable so far")]
    public static partial void DeliveryDropped(ILogger logger, string endpoint, string topic, string remote, string reason, long count);

    [LoggerMessage(EventId = 307, EventName = "UdpPeerUnreachable", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} was told that an earlier datagram could not be delivered ({Error}); it keeps listening")]
    public static partial void PeerUnreachable(ILogger logger, string endpoint, string error);

    [LoggerMessage(EventId = 308, EventName = "UdpPeerRejected", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} cannot track {Remote}: {Problem}; {Count} unroutable datagrams so far")]
    public static partial void PeerRejected(ILogger logger, string endpoint, string remote, string problem, long count);
}
