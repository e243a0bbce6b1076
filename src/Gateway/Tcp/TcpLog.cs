using Microsoft.Extensions.Logging;

namespace Gateway.Tcp;

/// <summary>Log lines of framed TCP and Unix socket endpoints. Event ids 200-299.</summary>
internal static partial class TcpLog
{
    [LoggerMessage(EventId = 200, EventName = "ConnectionOpened", Level = LogLevel.Information,
        Message = "Connection {ConnectionId} opened on {Endpoint} from {Remote} as {Identity}")]
    public static partial void ConnectionOpened(ILogger logger, string connectionId, string endpoint, string remote, string identity);

    [LoggerMessage(EventId = 201, EventName = "ConnectionClosed", Level = LogLevel.Information,
        Message = "Connection {ConnectionId} on {Endpoint} from {Remote} as {Identity} closed after {DurationMs} ms ({CloseReason}); in {BytesIn} bytes {FramesIn} frames, out {BytesOut} bytes {FramesOut} frames")]
    public static partial void ConnectionClosed(ILogger logger, string connectionId, string endpoint, string remote, string identity, long durationMs, string closeReason, long bytesIn, long framesIn, long bytesOut, long framesOut);

    [LoggerMessage(EventId = 202, EventName = "ConnectionRefused", Level = LogLevel.Warning,
        Message = "Endpoint {Endpoint} refused a connection from {Remote}: MaxConnections ({MaxConnections}) are open")]
    public static partial void ConnectionRefused(ILogger logger, string endpoint, string remote, int maxConnections);

    [LoggerMessage(EventId = 203, EventName = "FramingError", Level = LogLevel.Warning,
        Message = "Connection {ConnectionId} on {Endpoint} from {Remote} sent bad input and is being closed: {Problem}")]
    public static partial void FramingError(ILogger logger, string connectionId, string endpoint, string remote, string problem);

    [LoggerMessage(EventId = 204, EventName = "OutboundFrameDropped", Level = LogLevel.Debug,
        Message = "Message on {Topic} could not be framed for connection {ConnectionId} on {Endpoint} and was dropped: {Problem}")]
    public static partial void OutboundFrameDropped(ILogger logger, string topic, string connectionId, string endpoint, string problem);

    [LoggerMessage(EventId = 205, EventName = "ConnectionFault", Level = LogLevel.Debug,
        Message = "Connection {ConnectionId} on {Endpoint} faulted")]
    public static partial void ConnectionFault(ILogger logger, string connectionId, string endpoint, Exception exception);

    [LoggerMessage(EventId = 206, EventName = "EndpointListening", Level = LogLevel.Information,
        Message = "Endpoint {Endpoint} listening on {Address} ({Framing} framing, publish {Publish}, subscribe [{Subscribe}])")]
    public static partial void EndpointListening(ILogger logger, string endpoint, string address, string framing, string publish, string subscribe);

    [LoggerMessage(EventId = 207, EventName = "StaleUnixSocketRemoved", Level = LogLevel.Information,
        Message = "Removed stale Unix socket file {Path} left by an earlier process, for endpoint {Endpoint}")]
    public static partial void StaleUnixSocketRemoved(ILogger logger, string path, string endpoint);

    [LoggerMessage(EventId = 208, EventName = "ListenAddressUnavailable", Level = LogLevel.Warning,
        Message = "Not listening on {Address}: {Reason}. The endpoint's other addresses still listen.")]
    public static partial void ListenAddressUnavailable(ILogger logger, string address, string reason);

    [LoggerMessage(EventId = 209, EventName = "SendRingUnavailable", Level = LogLevel.Information,
        Message = "No io_uring ({Reason}): a WebSocket fan-out makes one send system call per subscriber instead of one for all. In a container, allow io_uring_setup and io_uring_enter in its seccomp profile.")]
    public static partial void SendRingUnavailable(ILogger logger, string reason);
}
