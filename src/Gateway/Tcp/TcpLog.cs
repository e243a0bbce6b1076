using Microsoft.Extensions.Logging;

namespace Gateway.Tcp;

/// <summary>Log lines of framed TCP and Unix socket endpoints. Event ids from <see cref="LogEventIds.Tcp"/>.</summary>
internal static partial class TcpLog
{
    [LoggerMessage(EventId = LogEventIds.Tcp, EventName = "ConnectionRefused", Level = LogLevel.Warning,
        Message = "Endpoint {Endpoint} refused a connection from {Remote}: {Limit} ({Refused} refused on {Endpoint} as {Reason} so far)")]
    public static partial void ConnectionRefused(ILogger logger, string endpoint, string remote, string limit, string reason, long refused);

    [LoggerMessage(EventId = LogEventIds.Tcp + 1, EventName = "FramingError", Level = LogLevel.Warning,
        Message = "Connection {ConnectionId} on {Endpoint} from {Remote} sent bad input and is being closed: {Problem}")]
    public static partial void FramingError(ILogger logger, string connectionId, string endpoint, string remote, string problem);

    [LoggerMessage(EventId = LogEventIds.Tcp + 2, EventName = "OutboundFrameDropped", Level = LogLevel.Debug,
        Message = "Message on {Topic} could not be framed for connection {ConnectionId} on {Endpoint} and was dropped: {Problem}")]
    public static partial void OutboundFrameDropped(ILogger logger, string topic, string connectionId, string endpoint, string problem);

    [LoggerMessage(EventId = LogEventIds.Tcp + 3, EventName = "ConnectionFault", Level = LogLevel.Debug,
        Message = "Connection {ConnectionId} on {Endpoint} faulted")]
    public static partial void ConnectionFault(ILogger logger, string connectionId, string endpoint, Exception exception);

    [LoggerMessage(EventId = LogEventIds.Tcp + 4, EventName = "StaleUnixSocketRemoved", Level = LogLevel.Information,
        Message = "Removed stale Unix socket file {Path} left by an earlier process, for endpoint {Endpoint}")]
    public static partial void StaleUnixSocketRemoved(ILogger logger, string path, string endpoint);
}
