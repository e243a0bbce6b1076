namespace Gateway.Udp;

/// <summary>Log lines of UDP endpoints. Event ids from <see cref="LogEventIds.Udp"/>. Nothing here is written once per datagram above Debug.</summary>
internal static partial class UdpLog
{
    [LoggerMessage(EventId = LogEventIds.Udp, EventName = "UdpEndpointClosed", Level = LogLevel.Information,
        Message = "UDP endpoint {Endpoint} on {Address} closed; in {DatagramsIn} datagrams {BytesIn} bytes, out {DatagramsOut} datagrams {BytesOut} bytes; dropped {DroppedOversize} oversize, {DroppedTruncated} truncated, {DroppedRateLimited} rate-limited, {DroppedUnsendable} unsendable, {DroppedUnroutable} unroutable")]
    public static partial void EndpointClosed(ILogger logger, string endpoint, string address, long datagramsIn, long bytesIn, long datagramsOut, long bytesOut,
        long droppedOversize, long droppedTruncated, long droppedRateLimited, long droppedUnsendable, long droppedUnroutable);

    [LoggerMessage(EventId = LogEventIds.Udp + 1, EventName = "UdpReceiveFailed", Level = LogLevel.Error,
        Message = "UDP endpoint {Endpoint} failed while receiving; it keeps listening")]
    public static partial void ReceiveFailed(ILogger logger, string endpoint, Exception exception);

    [LoggerMessage(EventId = LogEventIds.Udp + 2, EventName = "UdpDatagramDropped", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} dropped a datagram from {Remote} ({Reason}); {Count} dropped for that reason so far")]
    public static partial void DatagramDropped(ILogger logger, string endpoint, string remote, string reason, long count);

    [LoggerMessage(EventId = LogEventIds.Udp + 3, EventName = "UdpDeliveryDropped", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} could not send a message on {Topic} to {Remote} ({Reason}); {Count} unsendable so far")]
    public static partial void DeliveryDropped(ILogger logger, string endpoint, string topic, string remote, string reason, long count);

    [LoggerMessage(EventId = LogEventIds.Udp + 4, EventName = "UdpPeerUnreachable", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} was told that an earlier datagram could not be delivered ({Error}); it keeps listening")]
    public static partial void PeerUnreachable(ILogger logger, string endpoint, string error);

    [LoggerMessage(EventId = LogEventIds.Udp + 5, EventName = "UdpPeerRejected", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} cannot track {Remote}: {Problem}; {Count} unroutable datagrams so far")]
    public static partial void PeerRejected(ILogger logger, string endpoint, string remote, string problem, long count);

    [LoggerMessage(EventId = LogEventIds.Udp + 6, EventName = "UdpSenderRefused", Level = LogLevel.Debug,
        Message = "UDP endpoint {Endpoint} refused to track the new sender {Remote} ({Reason}); {Count} refused for that reason so far")]
    public static partial void SenderRefused(ILogger logger, string endpoint, string remote, string reason, long count);
}
