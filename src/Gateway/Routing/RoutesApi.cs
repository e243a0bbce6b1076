using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Routing;

/// <summary><c>GET /api/routes</c>: each route with its upstream's state and its counts, taken at one moment.</summary>
internal static class RoutesApi
{
    /// <summary>Adds the route list to the admin API's group, behind its Admin permission.</summary>
    public static void MapRoutesApi(this RouteGroupBuilder admin) =>
        admin.MapGet("/routes", List).WithName("ListRoutes").WithSummary("Lists every route: its upstream, circuit, queue, messages in flight and last error.");

    /// <summary>One route as the admin API lists it. <c>Matched</c> = <c>Succeeded + Failed + InFlight + Queued</c> + the sum of <c>Dropped</c>.</summary>
    /// <param name="Circuit">"closed", or "open" while messages wait for the upstream to recover.</param>
    /// <param name="Dropped">By reason: queue_full, expired, shutdown.</param>
    /// <param name="DeadLettered">Failed and dropped messages published to the dead-letter topic.</param>
    public sealed record RouteInfo(
        string Name, IReadOnlyList<string> From, string Kind, string Destination, string Circuit, DateTimeOffset? CircuitOpenedAt,
        long Matched, long Succeeded, long Failed, int InFlight, int Queued, IReadOnlyDictionary<string, long> Dropped, long DeadLettered,
        string? LastError, DateTimeOffset? LastErrorAt);

    private static Ok<List<RouteInfo>> List(RouteCatalog catalog) =>
        TypedResults.Ok(catalog.Routes.Select(Describe).ToList());

    private static RouteInfo Describe(Route route)
    {
        var counts = route.Queue.Snapshot();
        var circuit = route.Upstream.Circuit;
        var error = route.LastError;
        return new RouteInfo(route.Name, route.Options.From, route.Options.To.Kind.ToString(), route.Upstream.Destination,
            circuit.IsOpen ? "open" : "closed", circuit.OpenedAt, counts.Matched, counts.Succeeded, counts.Failed, counts.InFlight, counts.Queued,
            counts.DropsByReason.ToDictionary(drop => drop.Reason, drop => drop.Count), counts.DeadLettered, error?.Message, error?.At);
    }
}
