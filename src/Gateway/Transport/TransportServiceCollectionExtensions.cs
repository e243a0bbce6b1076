using Gateway.Configuration;
using Gateway.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers the transport every listener uses (<c>Gateway:Transport</c>): the epoll transport beside Kestrel's socket
/// transport, and the settings of the runtime's socket engine.
/// </summary>
internal static class TransportServiceCollectionExtensions
{
    public static IServiceCollection AddGatewayTransport(this IServiceCollection services, IConfiguration configuration)
    {
        // Read before the options are bound: a value that is not a boolean is reported with the other settings at start.
        SocketEngine.UseInlineCompletions(
            !bool.TryParse(configuration[$"{GatewayOptions.SectionName}:Transport:{nameof(TransportOptions.InlineCompletions)}"], out var inline) || inline);

        // Kestrel asks its transports in reverse order of registration whether they bind an address; this one binds
        // only EpollEndPoint, which TransportListeners uses when Gateway:Transport:Kind is Epoll.
        services.TryAddSingleton(static provider =>
        {
            var transport = provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Transport;
            return new EpollTransportOptions(transport.EpollLoops ?? Environment.ProcessorCount, transport.InlineScheduling);
        });
        services.TryAddSingleton<EpollTransportFactory>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, EpollTransportFactory>(static provider => provider.GetRequiredService<EpollTransportFactory>()));
        services.TryAddSingleton<OutboundConnections>();

        services.AddGatewayOptionsCheck<TransportOptionsValidator>();
        services.AddOptions<SocketTransportOptions>()
            .Configure<IOptions<GatewayOptions>>((socket, gateway) =>
            {
                var transport = gateway.Value.Transport;
                socket.UnsafePreferInlineScheduling = transport.InlineScheduling;
                socket.WaitForDataBeforeAllocatingBuffer = transport.WaitForDataBeforeAllocatingBuffer;
                if (transport.IOQueueCount is { } queues) socket.IOQueueCount = queues;
            });
        return services;
    }
}
