using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Tcp;
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
        services.AddOptions<SocketTransportOptions>()
            .Configure<IOptions<GatewayOptions>>((socket, gateway) =>
            {
                var transport = gateway.Value.Transport;
                socket.UnsafePreferInlineScheduling = transport.InlineScheduling;
                socket.WaitForDataBeforeAllocatingBuffer = transport.WaitForDataBeforeAllocatingBuffer;
                if (transport.IOQueueCount is { } queues) socket.IOQueueCount = queues;
            });
        services.AddOptions<KestrelServerOptions>()
            .Configure<TcpEndpointCatalog, IOptions<GatewayOptions>, IMessageBus, ConnectionRegistry, ILoggerFactory>(
                (kestrel, catalog, gateway, bus, registry, loggers) =>
                {
                    var logger = loggers.CreateLogger("Gateway.Tcp");
                    foreach (var endpoint in catalog.Endpoints)
                        Listen(kestrel, endpoint, gateway.Value.DefaultAddress, new FramedConnectionHandler(endpoint, bus, registry, logger), logger);
                });
        return services;
    }

    private static void Listen(KestrelServerOptions kestrel, FramedEndpoint endpoint, string defaultAddress, FramedConnectionHandler handler, ILogger logger)
    {
        void Configure(ListenOptions listen)
        {
            endpoint.Listeners.Add(listen);
            listen.Run(handler.OnConnectedAsync);
        }

        if (endpoint.Options.UnixSocketPath is { } path)
        {
            RemoveStaleUnixSocket(path, endpoint.Name, logger);
            kestrel.ListenUnixSocket(path, Configure);
            return;
        }

        ListenAddress.Listen(kestrel, endpoint.Options.Address ?? defaultAddress, endpoint.Options.Port!.Value, Configure);
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
