using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Security;

namespace Gateway.Routing;

/// <summary>Every configured route, built once with its upstream; the admin API, the metrics and readiness read them here.</summary>
internal sealed class RouteCatalog
{
    public RouteCatalog(IOptions<GatewayOptions> options, IHttpMessageHandlerFactory handlers, IMessageBus bus,
        InProcessMessageBus local, PermissionPolicy permissions, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Gateway.Routing");
        Routes = [.. options.Value.Routes.Select(pair =>
            new Route(pair.Key, pair.Value, CreateUpstream(pair.Key, pair.Value, handlers, logger), bus, local, permissions, logger))];
    }

    public IReadOnlyList<Route> Routes { get; }

    private static IUpstream CreateUpstream(string name, RouteOptions route, IHttpMessageHandlerFactory handlers, ILogger logger)
    {
        var circuit = new UpstreamCircuit(name, DestinationOf(route.To), logger);
        return route.To.Kind switch
        {
            UpstreamKind.Http => new HttpUpstream(name, route, new HttpMessageInvoker(handlers.CreateHandler(HttpUpstream.ClientName(name)), disposeHandler: false), circuit),
            UpstreamKind.Tcp => new TcpUpstream(route, circuit),
            _ => new UdpUpstream(route, circuit),
        };
    }

    /// <summary>The upstream as log lines and the admin API name it.</summary>
    private static string DestinationOf(UpstreamOptions to) => to.Kind switch
    {
        UpstreamKind.Http => new Uri(to.Url!).ToString(),
        UpstreamKind.Tcp => "tcp://" + to.Address,
        _ => "udp://" + to.Address,
    };
}
