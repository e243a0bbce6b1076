using Gateway.Messaging;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the in-process bus, the embedded default (the backplane, when configured, joins it to NATS).</summary>
internal static class MessagingServiceCollectionExtensions
{
    public static IServiceCollection AddMessaging(this IServiceCollection services)
    {
        services.TryAddSingleton<InProcessMessageBus>();
        services.TryAddSingleton<IMessageBus>(provider => provider.GetRequiredService<InProcessMessageBus>());
        return services;
    }
}
