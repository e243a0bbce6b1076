namespace Gateway.Http.Sse;

/// <summary>Event streams' own log lines; opening and closing are their session's.</summary>
internal static partial class SseLog
{
    [LoggerMessage(EventId = LogEventIds.Http + 10, EventName = "SharedHistoryFailed", Level = LogLevel.Warning,
        Message = "Event stream {ConnectionId} of '{Filter}' cannot read the shared history ({Reason}); it closes, and the client's reconnect with its last event id resumes it.")]
    public static partial void SharedHistoryFailed(ILogger logger, string connectionId, string filter, string reason);

    [LoggerMessage(EventId = LogEventIds.Http + 11, EventName = "EventStreamRefused", Level = LogLevel.Warning,
        Message = "Event stream from {Remote} on {Endpoint} refused with 429: {Limit} ({Refused} refused on {Endpoint} as {Reason} so far)")]
    public static partial void StreamRefused(ILogger logger, string remote, string endpoint, string limit, string reason, long refused);
}
