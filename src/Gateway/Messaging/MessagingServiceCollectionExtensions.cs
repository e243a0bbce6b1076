using Gateway.Connections;
using Gateway.Messaging;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the in-process bus (the embedded default) and the connection registry.</summary>
internal static class MessagingServiceCollectionExtensions
{
    public static IServiceCollection AddMessaging(this IServiceCollection services)
    {
        services.TryAddSingleton<IMessageBus, InProcessMessageBus>();
        services.TryAddSingleton<ConnectionRegistry>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddHostedService<ConnectionHeartbeat>();
        return services;
    }
}
