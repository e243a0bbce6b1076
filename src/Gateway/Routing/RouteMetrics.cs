using System.Diagnostics.Metrics;
using Gateway.Observability;

namespace Gateway.Routing;

/// <summary>
/// The routes' instruments, on the gateway's meter. <c>gateway.route.messages</c> counts each route's matched messages
/// and how they ended (succeeded, failed, dropped by reason); <c>gateway.route.pending</c> those still queued or in
/// flight. At every scrape, matched = succeeded + failed + in flight + queued + dropped.
/// </summary>
/// <remarks>
/// Each instrument's callback runs on its own during a collection, so the two read one snapshot of every route: the
/// first callback of a collection takes it and the other reuses it, whichever order the SDK calls them in.
/// </remarks>
internal sealed class RouteMetrics
{
    private const string RouteTag = "gateway.route";
    private const string OutcomeTag = "gateway.route.outcome";
    private const string ReasonTag = "gateway.drop.reason";
    private const string StateTag = "gateway.route.state";

    private readonly IReadOnlyList<Route> _routes;
    private readonly Lock _lock = new();
    private RouteCounts[] _snapshot = [];
    private bool _messagesRead = true, _pendingRead = true;

    private RouteMetrics(IReadOnlyList<Route> routes) => _routes = routes;

    public static void Register(IMeterFactory meters, RouteCatalog catalog)
    {
        if (catalog.Routes.Count == 0) return;
        var metrics = new RouteMetrics(catalog.Routes);
        var meter = meters.Create(GatewayMetrics.MeterName);
        meter.CreateObservableCounter("gateway.route.messages", metrics.ObserveMessages, "{message}",
            "Messages a route matched, and how they ended: succeeded, failed (refused, or retries exhausted), dropped by reason (queue_full, expired, shutdown).");
        meter.CreateObservableUpDownCounter("gateway.route.pending", metrics.ObservePending, "{message}",
            "Messages of a route not yet ended: queued, or in flight to the upstream.");
        meter.CreateObservableCounter("gateway.route.dead_letters", metrics.ObserveDeadLetters, "{message}",
            "Failed and dropped messages a route published to its dead-letter topic.");
        meter.CreateObservableUpDownCounter("gateway.route.circuit.open", metrics.ObserveCircuits, "{circuit}",
            "1 while a route's circuit to its upstream is open: its messages wait in the queue.");
    }

    /// <summary>The snapshot of this collection: taken afresh when <paramref name="read"/> says this reader has seen the last one.</summary>
    private RouteCounts[] Snapshot(ref bool read)
    {
        lock (_lock)
        {
            if (read)
            {
                _snapshot = [.. _routes.Select(route => route.Queue.Snapshot())];
                _messagesRead = _pendingRead = false;
            }

            read = true;
            return _snapshot;
        }
    }

    private IEnumerable<Measurement<long>> ObserveMessages()
    {
        var snapshot = Snapshot(ref _messagesRead);
        for (var i = 0; i < _routes.Count; i++)
        {
            var route = _routes[i].Name;
            var counts = snapshot[i];
            yield return Measure(counts.Matched, route, OutcomeTag, "matched");
            yield return Measure(counts.Succeeded, route, OutcomeTag, "succeeded");
            yield return Measure(counts.Failed, route, OutcomeTag, "failed");
            foreach (var (reason, count) in counts.DropsByReason)
                yield return new Measurement<long>(count, new(RouteTag, route), new(OutcomeTag, "dropped"), new(ReasonTag, reason));
        }
    }

    private IEnumerable<Measurement<long>> ObservePending()
    {
        var snapshot = Snapshot(ref _pendingRead);
        for (var i = 0; i < _routes.Count; i++)
        {
            yield return Measure(snapshot[i].Queued, _routes[i].Name, StateTag, "queued");
            yield return Measure(snapshot[i].InFlight, _routes[i].Name, StateTag, "in_flight");
        }
    }

    private IEnumerable<Measurement<long>> ObserveDeadLetters() =>
        _routes.Select(route => new Measurement<long>(route.Queue.Snapshot().DeadLettered, new KeyValuePair<string, object?>(RouteTag, route.Name)));

    private IEnumerable<Measurement<long>> ObserveCircuits() =>
        _routes.Select(route => new Measurement<long>(route.Upstream.Circuit.IsOpen ? 1 : 0, new KeyValuePair<string, object?>(RouteTag, route.Name)));

    private static Measurement<long> Measure(long value, string route, string tag, string tagValue) =>
        new(value, new(RouteTag, route), new(tag, tagValue));
}
