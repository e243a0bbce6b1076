namespace Gateway.Http.Sse;

/// <summary>Event streams' own log lines; opening and closing are their session's.</summary>
internal static partial class SseLog
{
    [LoggerMessage(EventId = LogEventIds.Http + 10, EventName = "SharedHistoryFailed", Level = LogLevel.Warning,
        Message = "Event stream {ConnectionId} of '{Filter}' cannot read the shared history ({Reason}); it closes, and the client's reconnect with its last event id resumes it.")]
    public static partial void SharedHistoryFailed(ILogger logger, string connectionId, string filter, string reason);
}
