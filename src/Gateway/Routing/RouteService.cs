namespace Gateway.Routing;

/// <summary>
/// Starts every route (its upstream, its tick, its subscriptions) with the host, and stops them with it: each route
/// unsubscribes, has half of <c>Gateway:Shutdown:DrainTimeout</c> to send what it holds, and counts and dead-letters the
/// rest. Half, because the host's services stop one after another within that one timeout, and the connections'
/// drain comes after the routes'.
/// </summary>
internal sealed class RouteService(RouteCatalog catalog, IOptions<Configuration.GatewayOptions> options, ILoggerFactory loggers) : IHostedService
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
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(options.Value.Shutdown.DrainTimeout / 2);
        await Task.WhenAll(catalog.Routes.Select(route => route.StopAsync(budget.Token))).ConfigureAwait(false);
        foreach (var route in catalog.Routes)
        {
            var counts = route.Queue.Snapshot();
            RouteLog.Stopped(_logger, route.Name, counts.Matched, counts.Succeeded, counts.Failed, counts.Dropped, counts.DeadLettered);
            await route.DisposeAsync().ConfigureAwait(false);
        }
    }
}
