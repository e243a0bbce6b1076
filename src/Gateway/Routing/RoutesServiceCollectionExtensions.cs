using Gateway.Configuration;
using Gateway.Observability;
using Gateway.Routing;
using Microsoft.Extensions.DependencyInjection.Extensions;
using RouteOptions = Gateway.Routing.RouteOptions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the routes: their validation, one named HTTP client (its connection pool) per route, made only for HTTP routes, the service that runs them, their metrics and readiness.</summary>
internal static class RoutesServiceCollectionExtensions
{
    public static IServiceCollection AddRoutes(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddGatewayOptionsCheck<RoutesValidator>();
        services.TryAddSingleton(provider =>
        {
            var catalog = ActivatorUtilities.CreateInstance<RouteCatalog>(provider);
            RouteMetrics.Register(provider.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>(), catalog);
            return catalog;
        });
        services.AddHostedService<RouteService>();
        services.AddHealthChecks().AddCheck<RoutesReadyCheck>(RoutesReadyCheck.Name, tags: [HealthEndpoints.ReadyTag]);
        // The catalog takes the handler factory whatever its routes are: without an HTTP route (or any route), the loop
        // below registers nothing, and the host could not start.
        services.AddHttpClient();

        // The factory's clients are named when services are registered, so the routes are read from the configuration
        // here; their options, bound and validated later, are read when each client is first made.
        foreach (var route in configuration.GetSection($"{GatewayOptions.SectionName}:{nameof(GatewayOptions.Routes)}").GetChildren())
        {
            var name = route.Key;
            services.AddHttpClient(HttpUpstream.ClientName(name))
                // The factory logs every request at Information: once per message.
                .RemoveAllLoggers()
                .ConfigurePrimaryHttpMessageHandler(provider =>
                    HttpUpstream.CreateHandler(RouteOf(provider, name).To, provider.GetRequiredService<Gateway.Transport.OutboundConnections>().HttpConnectCallback))
                // One pool for the route's lifetime: PooledConnectionLifetime replaces connections for DNS changes instead.
                // The route's retries, timeouts and circuit breaker run around each request in HttpUpstream, not in here.
                .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
        }

        return services;
    }

    private static RouteOptions RouteOf(IServiceProvider provider, string name) =>
        provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Routes[name];
}
