using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Messaging;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the in-process bus (the embedded default), the connection registry and its shutdown drain.</summary>
internal static class MessagingServiceCollectionExtensions
{
    public static IServiceCollection AddMessaging(this IServiceCollection services)
    {
        services.TryAddSingleton<IMessageBus, InProcessMessageBus>();
        services.TryAddSingleton<ConnectionRegistry>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService<ConnectionHeartbeat>();
        services.AddHostedService<ShutdownDrain>();
        services.AddOptions<HostOptions>().Configure<IOptions<GatewayOptions>>((host, gateway) =>
            host.ShutdownTimeout = gateway.Value.Shutdown.DrainTimeout);
        return services;
    }
}
