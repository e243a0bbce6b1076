namespace Gateway.Routing;

/// <summary>
/// Starts every route (its upstream, its pump, its subscriptions) with the host, and stops them with it: each route
/// unsubscribes, has until the host's shutdown timeout to send what it holds, and counts and dead-letters the rest.
/// </summary>
internal sealed class RouteService(RouteCatalog catalog, ILoggerFactory loggers) : IHostedService
{
    private readonly ILogger _logger = loggers.CreateLogger("Gateway.Routing");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        foreach (var route in catalog.Routes)
        {
            await route.StartAsync(cancellationToken).ConfigureAwait(false);
            var options = route.Options;
            RouteLog.Started(_logger, route.Name, string.Join(", ", options.From), route.Upstream.Destination, options.Queue.Capacity,
                options.Queue.Overflow.ToString(), options.MaxInFlight, options.Ordering.ToString());
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await Task.WhenAll(catalog.Routes.Select(route => route.StopAsync(cancellationToken))).ConfigureAwait(false);
        foreach (var route in catalog.Routes)
        {
            var counts = route.Queue.Snapshot();
            RouteLog.Stopped(_logger, route.Name, counts.Matched, counts.Succeeded, counts.Failed, counts.Dropped, counts.DeadLettered);
            await route.DisposeAsync().ConfigureAwait(false);
        }
    }
}
