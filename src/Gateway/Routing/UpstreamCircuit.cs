namespace Gateway.Routing;

/// <summary>
/// The state of a route's circuit breaker as the admin API and readiness see it, kept from the breaker's own events; it
/// logs one line when the circuit opens and one when it closes, never one per message.
/// </summary>
internal sealed class UpstreamCircuit(string route, string destination, ILogger logger)
{
    /// <summary>Where the route's messages go, as the admin API and the log lines show it: the URL, or "tcp://host:port".</summary>
    public string Destination => destination;

    private volatile bool _open;
    private long _openedAtTicks;

    /// <summary>Whether the circuit is open (or half-open, trying one message): messages wait instead of being sent.</summary>
    public bool IsOpen => _open;

    /// <summary>When it opened, from closed; null while closed.</summary>
    public DateTimeOffset? OpenedAt => _open ? new DateTimeOffset(Interlocked.Read(ref _openedAtTicks), TimeSpan.Zero) : null;

    /// <summary>The breaker opened after <paramref name="cause"/>; it stays open for <paramref name="breakDuration"/>.</summary>
    public void OnOpened(string cause, TimeSpan breakDuration)
    {
        if (_open) return; // a failed trial opens it again: already said
        Interlocked.Exchange(ref _openedAtTicks, DateTime.UtcNow.Ticks);
        _open = true;
        RouteLog.CircuitOpened(logger, route, destination, cause, breakDuration.TotalSeconds);
    }

    /// <summary>A trial succeeded: messages flow again.</summary>
    public void OnClosed()
    {
        if (!_open) return;
        var openFor = DateTime.UtcNow - new DateTime(Interlocked.Read(ref _openedAtTicks), DateTimeKind.Utc);
        _open = false;
        RouteLog.CircuitClosed(logger, route, destination, openFor.TotalSeconds);
    }
}
