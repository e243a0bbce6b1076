using Gateway.Configuration;
using Gateway.Connections;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers what every protocol's connections share: their sessions, the registry, the count of what limits refused, the heartbeat and the shutdown drain.</summary>
internal static class ConnectionsServiceCollectionExtensions
{
    public static IServiceCollection AddGatewayConnections(this IServiceCollection services)
    {
        services.TryAddSingleton<ConnectionRegistry>();
        services.TryAddSingleton<ConnectionSessions>();
        services.TryAddSingleton<Rejections>();
        services.TryAddSingleton<EndpointDirectory>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService<ConnectionHeartbeat>();
        services.AddHostedService<ShutdownDrain>();
        services.AddOptions<HostOptions>().Configure<IOptions<GatewayOptions>>((host, gateway) =>
            host.ShutdownTimeout = gateway.Value.Shutdown.DrainTimeout);
        return services;
    }
}
