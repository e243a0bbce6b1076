using System.Collections.Concurrent;
using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Security;

namespace Gateway.Routing;

/// <summary>Every configured route, built once with its upstream; the admin API, the metrics and readiness read them here.</summary>
internal sealed class RouteCatalog
{
    public RouteCatalog(IOptions<GatewayOptions> options, IHttpClientFactory clients, UpstreamCircuits circuits, IMessageBus bus,
        InProcessMessageBus local, PermissionPolicy permissions, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Gateway.Routing");
        Routes = [.. options.Value.Routes.Select(pair =>
            new Route(pair.Key, pair.Value, CreateUpstream(pair.Key, pair.Value, clients, circuits), bus, local, permissions, logger))];
    }

    public IReadOnlyList<Route> Routes { get; }

    private static IUpstream CreateUpstream(string name, RouteOptions route, IHttpClientFactory clients, UpstreamCircuits circuits) => route.To.Kind switch
    {
        UpstreamKind.Http => new HttpUpstream(name, route, clients.CreateClient(HttpUpstream.ClientName(name)), circuits.For(name, route.To)),
        UpstreamKind.Tcp => new TcpUpstream(route, circuits.For(name, route.To)),
        _ => new UdpUpstream(route, circuits.For(name, route.To)),
    };
}

/// <summary>
/// Each route's <see cref="UpstreamCircuit"/>, by route name: made here because the HTTP client factory builds a route's
/// resilience handler on its own, and it must report to the same circuit the route reads.
/// </summary>
internal sealed class UpstreamCircuits(ILoggerFactory loggers)
{
    private readonly ConcurrentDictionary<string, UpstreamCircuit> _circuits = new(StringComparer.OrdinalIgnoreCase);
    private readonly ILogger _logger = loggers.CreateLogger("Gateway.Routing");

    public UpstreamCircuit For(string route, UpstreamOptions to) =>
        _circuits.GetOrAdd(route, static (name, state) => new UpstreamCircuit(name, DestinationOf(state.to), state.logger), (to, logger: _logger));

    /// <summary>The upstream as log lines and the admin API name it.</summary>
    private static string DestinationOf(UpstreamOptions to) => to.Kind switch
    {
        UpstreamKind.Http => new Uri(to.Url!).ToString(),
        UpstreamKind.Tcp => "tcp://" + to.Address,
        _ => "udp://" + to.Address,
    };
}
