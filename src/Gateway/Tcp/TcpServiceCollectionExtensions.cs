using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Tcp;
using Gateway.Tcp.Epoll;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the framed TCP and Unix socket endpoints on Kestrel.</summary>
internal static class TcpServiceCollectionExtensions
{
    public static IServiceCollection AddTcpEndpoints(this IServiceCollection services)
    {
        services.TryAddSingleton<TcpEndpointCatalog>();

        // Kestrel asks its transports in reverse order of registration whether they bind an address; this one
        // binds only EpollEndPoint, which the framed endpoints use when Gateway:Transport:Kind is Epoll.
        services.TryAddSingleton(static provider =>
        {
            var transport = provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Transport;
            return new EpollTransportOptions(transport.EpollLoops ?? Environment.ProcessorCount, transport.InlineScheduling);
        });
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, EpollTransportFactory>());

        services.AddOptions<SocketTransportOptions>()
            .Configure<IOptions<GatewayOptions>>((socket, gateway) =>
            {
                var transport = gateway.Value.Transport;
                socket.UnsafePreferInlineScheduling = transport.InlineScheduling;
                socket.WaitForDataBeforeAllocatingBuffer = transport.WaitForDataBeforeAllocatingBuffer;
                if (transport.IOQueueCount is { } queues) socket.IOQueueCount = queues;
            });
        services.AddOptions<KestrelServerOptions>()
            .Configure<TcpEndpointCatalog, IOptions<GatewayOptions>, IServiceProvider>((kestrel, catalog, gateway, services) =>
            {
                var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Tcp");
                var transport = gateway.Value.Transport.Kind;
                foreach (var endpoint in catalog.Endpoints)
                {
                    // As Kestrel's UseConnectionHandler does: the handler's other dependencies come from the container.
                    var handler = ActivatorUtilities.CreateInstance<FramedConnectionHandler>(services, endpoint, logger);
                    Listen(kestrel, endpoint, gateway.Value.DefaultAddress, transport, handler, logger);
                }
            });
        return services;
    }

    private static void Listen(KestrelServerOptions kestrel, FramedEndpoint endpoint, string defaultAddress, TransportKind transport, FramedConnectionHandler handler, ILogger logger)
    {
        void Configure(ListenOptions listen)
        {
            endpoint.Listeners.Add(listen);
            endpoint.Tls?.Apply(listen);
            listen.Run(handler.OnConnectedAsync);
        }

        if (endpoint.Options.UnixSocketPath is { } path)
        {
            RemoveStaleUnixSocket(path, endpoint.Name, logger);
            if (transport == TransportKind.Epoll) kestrel.Listen(new EpollEndPoint(new UnixDomainSocketEndPoint(path)), Configure);
            else kestrel.ListenUnixSocket(path, Configure);
            return;
        }

        ListenAddress.Listen(kestrel, endpoint.Options.Address ?? defaultAddress, endpoint.Options.Port!.Value,
            transport, Configure);
    }

    /// <summary>
    /// A socket file outlives a process that was killed; binding would then fail with "address in use".
    /// Remove it only when nothing accepts on it, so a second live gateway is still refused.
    /// </summary>
    private static void RemoveStaleUnixSocket(string path, string endpointName, ILogger logger)
    {
        if (!File.Exists(path)) return;
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused)
        {
            File.Delete(path);
            TcpLog.StaleUnixSocketRemoved(logger, path, endpointName);
        }
    }
}
