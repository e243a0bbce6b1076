namespace Gateway.Routing;

/// <summary>The routes' log lines: a few per route and state change, never one per message.</summary>
internal static partial class RouteLog
{
    [LoggerMessage(EventId = LogEventIds.Routing + 1, EventName = "RouteStarted", Level = LogLevel.Information,
        Message = "Route {Route}: [{From}] to {Destination}, queue {Capacity} ({Overflow}), {MaxInFlight} in flight, ordering {Ordering}")]
    public static partial void Started(ILogger logger, string route, string from, string destination, int capacity, string overflow, int maxInFlight, string ordering);

    [LoggerMessage(EventId = LogEventIds.Routing + 2, EventName = "CircuitOpened", Level = LogLevel.Warning,
        Message = "Route {Route}: circuit to {Destination} opened after {Cause}; messages wait in the queue, and one is tried again in {BreakSeconds} s")]
    public static partial void CircuitOpened(ILogger logger, string route, string destination, string cause, double breakSeconds);

    [LoggerMessage(EventId = LogEventIds.Routing + 3, EventName = "CircuitClosed", Level = LogLevel.Information,
        Message = "Route {Route}: circuit to {Destination} closed after {OpenSeconds:0.#} s open; messages flow again")]
    public static partial void CircuitClosed(ILogger logger, string route, string destination, double openSeconds);

    [LoggerMessage(EventId = LogEventIds.Routing + 4, EventName = "TemplateFailed", Level = LogLevel.Warning,
        Message = "Route {Route}: the template '{Template}' gave no valid topic for a message ({Problem}); such answers and dead letters are discarded, and only this first one is logged")]
    public static partial void TemplateFailed(ILogger logger, string route, string template, string problem);

    [LoggerMessage(EventId = LogEventIds.Routing + 5, EventName = "RouteStopped", Level = LogLevel.Information,
        Message = "Route {Route} stopped: {Matched} matched, {Succeeded} succeeded, {Failed} failed, {Dropped} dropped, {DeadLettered} dead-lettered")]
    public static partial void Stopped(ILogger logger, string route, long matched, long succeeded, long failed, long dropped, long deadLettered);
}
