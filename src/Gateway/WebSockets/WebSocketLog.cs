namespace Gateway.WebSockets;

/// <summary>Log lines of WebSocket connections. Event ids from <see cref="LogEventIds.WebSockets"/>.</summary>
internal static partial class WebSocketLog
{
    [LoggerMessage(EventId = LogEventIds.WebSockets, EventName = "WebSocketRejected", Level = LogLevel.Warning,
        Message = "WebSocket request from {Remote} refused: {Problem}")]
    public static partial void Rejected(ILogger logger, string remote, string problem);

    [LoggerMessage(EventId = LogEventIds.WebSockets + 1, EventName = "WebSocketFault", Level = LogLevel.Debug,
        Message = "WebSocket {ConnectionId} faulted")]
    public static partial void Fault(ILogger logger, string connectionId, Exception exception);
}
