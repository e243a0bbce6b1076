using Gateway.Messaging;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the in-process bus, the embedded default.</summary>
internal static class MessagingServiceCollectionExtensions
{
    public static IServiceCollection AddMessaging(this IServiceCollection services)
    {
        services.TryAddSingleton<IMessageBus, InProcessMessageBus>();
        return services;
    }
}
