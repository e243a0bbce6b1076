using System.Collections.Concurrent;
using System.Net;
using Gateway.Connections;
using Gateway.Observability;

namespace Gateway.Overload;

/// <summary>
/// What every listener asks before it takes on a new peer, and where it reports the refusal: counted in
/// <see cref="Rejections"/> under <see cref="RejectionReasons.Overload"/>, and logged within the bounds of one
/// <see cref="LogThrottle"/> per endpoint, as a peer that keeps connecting causes these lines at will.
/// </summary>
internal sealed class OverloadRefusals(OverloadMonitor monitor, Rejections rejections, ILoggerFactory loggers)
{
    private readonly Rejections _rejections = rejections;
    private readonly ILogger _logger = loggers.CreateLogger("Gateway.Overload");
    private readonly ConcurrentDictionary<string, EndpointRefusals> _endpoints = new(StringComparer.Ordinal);

    /// <summary>Whether new peers are refused now.</summary>
    public bool IsOverloaded => monitor.IsOverloaded;

    /// <summary>The <c>Retry-After</c> an HTTP refusal gives.</summary>
    public TimeSpan RetryAfter => monitor.RetryAfter;

    /// <summary>
    /// Whether a new peer must be refused now; when it must, the refusal is counted and logged (<see cref="Refuse"/>).
    /// Usage where a listener takes on a new peer: <c>if (overload.Refuses(endpoint, "a new sender", remote)) return;</c>
    /// </summary>
    public bool Refuses(string endpoint, string what, EndPoint? remote)
    {
        if (!monitor.IsOverloaded) return false;
        Refuse(endpoint, what, remote);
        return true;
    }

    /// <summary>Counts one refusal on <paramref name="endpoint"/> and logs it unless its endpoint's lines are over their bound.</summary>
    /// <param name="what">What was refused, for the log line: "a connection", "a request", "a new sender".</param>
    /// <param name="remote">The peer; formatted only when the line is written.</param>
    public void Refuse(string endpoint, string what, EndPoint? remote)
    {
        var refusals = _endpoints.GetOrAdd(endpoint, static (name, self) => new EndpointRefusals(
            self._rejections.For(name, RejectionReasons.Overload), new LogThrottle(self._logger, $"refusals for overload on {name}")), this);
        var count = refusals.Counter.Increment();
        if (refusals.Throttle.Allow()) OverloadLog.Refused(_logger, endpoint, what, remote?.ToString() ?? "unix", count);
    }

    private sealed record EndpointRefusals(RejectionCounter Counter, LogThrottle Throttle);
}
