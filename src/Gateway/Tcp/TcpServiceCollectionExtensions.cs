using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Overload;
using Gateway.Tcp;
using Gateway.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the framed TCP and Unix socket endpoints on Kestrel.</summary>
internal static class TcpServiceCollectionExtensions
{
    public static IServiceCollection AddTcpEndpoints(this IServiceCollection services)
    {
        services.AddGatewayOptionsCheck<TcpEndpointsValidator>();
        services.TryAddSingleton<TcpEndpointCatalog>();
        services.AddSingleton<IEndpointCatalog>(static provider => provider.GetRequiredService<TcpEndpointCatalog>());

        services.AddOptions<KestrelServerOptions>()
            .Configure<TcpEndpointCatalog, IOptions<GatewayOptions>, IServiceProvider>((kestrel, catalog, gateway, services) =>
            {
                var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Tcp");
                var transport = gateway.Value.Transport.Kind;
                var refusals = services.GetRequiredService<OverloadRefusals>();
                foreach (var endpoint in catalog.Endpoints)
                {
                    // As Kestrel's UseConnectionHandler does: the handler's other dependencies come from the container.
                    var handler = ActivatorUtilities.CreateInstance<FramedConnectionHandler>(services, endpoint, logger);
                    Listen(kestrel, endpoint, gateway.Value.DefaultAddress, transport, handler, refusals, logger);
                }
            });
        return services;
    }

    private static void Listen(KestrelServerOptions kestrel, FramedEndpoint endpoint, string defaultAddress, TransportKind transport, FramedConnectionHandler handler,
        OverloadRefusals refusals, ILogger logger)
    {
        void Configure(ListenOptions listen)
        {
            endpoint.Listeners.Add(listen);
            listen.RefuseWhenOverloaded(endpoint.Name, refusals);
            endpoint.Tls?.Apply(listen);
            listen.Run(handler.OnConnectedAsync);
        }

        if (endpoint.Options.UnixSocketPath is { } path)
        {
            RemoveStaleUnixSocket(path, endpoint.Name, logger);
            TransportListeners.ListenUnixSocket(kestrel, path, transport, Configure);
            return;
        }

        TransportListeners.Listen(kestrel, endpoint.Options.Address ?? defaultAddress, endpoint.Options.Port!.Value,
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
