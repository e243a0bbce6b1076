namespace Gateway.Overload;

/// <summary>Log lines of the overload protection. Event ids from <see cref="LogEventIds.Overload"/>.</summary>
internal static partial class OverloadLog
{
    [LoggerMessage(EventId = LogEventIds.Overload, EventName = "OverloadStarted", Level = LogLevel.Warning,
        Message = "Overloaded: the working set ({WorkingSetBytes:N0} bytes) reached the high threshold ({HighBytes:N0} bytes, Gateway:Overload:{HighSetting}); "
            + "new connections are refused, HTTP answers 503 and /readyz fails until it falls below {LowBytes:N0} bytes")]
    public static partial void Started(ILogger logger, long workingSetBytes, long highBytes, string highSetting, long lowBytes);

    [LoggerMessage(EventId = LogEventIds.Overload + 1, EventName = "OverloadEnded", Level = LogLevel.Information,
        Message = "Overload ended: the working set ({WorkingSetBytes:N0} bytes) fell below the low threshold ({LowBytes:N0} bytes) after {DurationSeconds:0.0} s; accepting new connections again")]
    public static partial void Ended(ILogger logger, long workingSetBytes, long lowBytes, double durationSeconds);

    [LoggerMessage(EventId = LogEventIds.Overload + 2, EventName = "OverloadRefused", Level = LogLevel.Warning,
        Message = "Endpoint {Endpoint} refused {What} from {Remote}: the gateway is overloaded ({Refused} refused on this endpoint so far)")]
    public static partial void Refused(ILogger logger, string endpoint, string what, string remote, long refused);

    [LoggerMessage(EventId = LogEventIds.Overload + 3, EventName = "OverloadWatching", Level = LogLevel.Debug,
        Message = "Overload protection: high threshold {HighBytes:N0} bytes (Gateway:Overload:{HighSetting}), low {LowBytes:N0} bytes (Gateway:Overload:{LowSetting}), of {AvailableBytes:N0} bytes the process may use")]
    public static partial void Watching(ILogger logger, long highBytes, string highSetting, long lowBytes, string lowSetting, long availableBytes);
}
