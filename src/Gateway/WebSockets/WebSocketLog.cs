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

    [LoggerMessage(EventId = LogEventIds.WebSockets + 2, EventName = "WebSocketProtocolViolation", Level = LogLevel.Warning,
        Message = "WebSocket {ConnectionId} from {Remote} on {Endpoint} broke RFC 6455: {Violation}; closed with {CloseCode}")]
    public static partial void ProtocolViolation(ILogger logger, string connectionId, string remote, string endpoint, string violation, int closeCode);

    [LoggerMessage(EventId = LogEventIds.WebSockets + 3, EventName = "WebSocketMessageTooBig", Level = LogLevel.Warning,
        Message = "WebSocket {ConnectionId} from {Remote} on {Endpoint} sent {Problem}; closed with 1009")]
    public static partial void MessageTooBig(ILogger logger, string connectionId, string remote, string endpoint, string problem);
}
