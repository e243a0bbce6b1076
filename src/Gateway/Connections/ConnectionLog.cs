namespace Gateway.Connections;

/// <summary>Log lines of connection sessions and endpoints, the same for every protocol; event ids from <see cref="LogEventIds.Connections"/>.</summary>
internal static partial class ConnectionLog
{
    [LoggerMessage(EventId = LogEventIds.Connections, EventName = "ConnectionOpened", Level = LogLevel.Information,
        Message = "Connection {ConnectionId} ({Protocol}) opened on {Endpoint} from {Remote} as {Identity}")]
    public static partial void Opened(ILogger logger, string connectionId, string protocol, string endpoint, string remote, string identity);

    [LoggerMessage(EventId = LogEventIds.Connections + 1, EventName = "ConnectionClosed", Level = LogLevel.Information,
        Message = "Connection {ConnectionId} ({Protocol}) on {Endpoint} from {Remote} as {Identity} closed after {DurationMs} ms ({CloseReason}); in {BytesIn} bytes {FramesIn} messages, out {BytesOut} bytes {FramesOut} messages")]
    public static partial void Closed(ILogger logger, string connectionId, string protocol, string endpoint, string remote, string identity, long durationMs,
        string closeReason, long bytesIn, long framesIn, long bytesOut, long framesOut);

    /// <summary>The open line of a tunnel, which names where its bytes go.</summary>
    [LoggerMessage(EventId = LogEventIds.Connections + 3, EventName = "TunnelOpened", Level = LogLevel.Information,
        Message = "Connection {ConnectionId} ({Protocol}) opened on {Endpoint} from {Remote} as {Identity} to {Destination}")]
    public static partial void OpenedTo(ILogger logger, string connectionId, string protocol, string endpoint, string remote, string identity, string destination);

    [LoggerMessage(EventId = LogEventIds.Connections + 2, EventName = "EndpointListening", Level = LogLevel.Information,
        Message = "Endpoint {Endpoint} listening on {Address} ({Protocol}): {Summary}")]
    public static partial void EndpointListening(ILogger logger, string endpoint, string address, string protocol, string summary);
}
