namespace Gateway.WebSockets;

/// <summary>Log lines of WebSocket connections. Event ids 400-499.</summary>
internal static partial class WebSocketLog
{
    [LoggerMessage(EventId = 400, EventName = "WebSocketOpened", Level = LogLevel.Information,
        Message = "WebSocket {ConnectionId} opened on {Endpoint} from {Remote} as {Identity} ({Mode} mode)")]
    public static partial void Opened(ILogger logger, string connectionId, string endpoint, string remote, string identity, string mode);

    [LoggerMessage(EventId = 401, EventName = "WebSocketClosed", Level = LogLevel.Information,
        Message = "WebSocket {ConnectionId} from {Remote} as {Identity} closed after {DurationMs} ms ({CloseReason}); in {MessagesIn} messages {BytesIn} bytes, out {MessagesOut} messages {BytesOut} bytes")]
    public static partial void Closed(ILogger logger, string connectionId, string remote, string identity, long durationMs, string closeReason, long messagesIn, long bytesIn, long messagesOut, long bytesOut);

    [LoggerMessage(EventId = 402, EventName = "WebSocketRejected", Level = LogLevel.Warning,
        Message = "WebSocket request from {Remote} refused: {Problem}")]
    public static partial void Rejected(ILogger logger, string remote, string problem);

    [LoggerMessage(EventId = 403, EventName = "WebSocketFault", Level = LogLevel.Debug,
        Message = "WebSocket {ConnectionId} faulted")]
    public static partial void Fault(ILogger logger, string connectionId, Exception exception);
}
