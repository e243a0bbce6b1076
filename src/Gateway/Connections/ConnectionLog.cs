using Gateway.Observability;

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

    [LoggerMessage(EventId = LogEventIds.Connections + 4, EventName = "RateLimited", Level = LogLevel.Warning,
        Message = "Connection {ConnectionId} ({Protocol}) on {Endpoint} from {Remote} as {Identity} sends faster than {Setting} allows: {Action} ({Breaches} such breaches on {Endpoint} so far)")]
    public static partial void RateLimited(ILogger logger, string connectionId, string protocol, string endpoint, string remote, string identity, string setting,
        string action, long breaches);
}

/// <summary>
/// The throttles of an endpoint whose peers a sender makes at will (each new UDP source port is a new peer), through
/// which its sessions write their open and close lines: a flood of short-lived peers then writes a few lines and a
/// summary per interval instead of two lines per peer. The registry and the counters still see every peer.
/// </summary>
/// <remarks>One per endpoint, owned by what lives as long as the endpoint; other protocols give none, and each of their
/// sessions writes both lines.</remarks>
internal sealed class ConnectionLineThrottles(LogThrottle opened, LogThrottle closed)
{
    /// <summary>Throttles for the peers of <paramref name="endpoint"/>, named as the summary lines give them: "UDP peers".</summary>
    public static ConnectionLineThrottles For(ILogger logger, string endpoint, string peers) =>
        new(new LogThrottle(logger, $"{peers} opened on {endpoint}"), new LogThrottle(logger, $"{peers} closed on {endpoint}"));

    public LogThrottle Opened => opened;

    public LogThrottle Closed => closed;
}
