using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Http;
using Gateway.Routing.Tunnels;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers the tunnels (<c>Gateway:Tunnels</c>): their settings' check, their endpoints' descriptions, and HTTP
/// <c>CONNECT</c> in front of the HTTP host's listeners once its allow-list names a destination.
/// </summary>
internal static class TunnelServiceCollectionExtensions
{
    public static IServiceCollection AddTunnels(this IServiceCollection services)
    {
        services.AddGatewayOptionsCheck<TunnelsValidator>();
        services.TryAddSingleton<ConnectAllowList>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IEndpointCatalog, TunnelEndpointCatalog>());
        // After the HTTP host has added its listeners (and TLS to the HTTPS ones): CONNECT runs on what TLS decrypted.
        services.AddOptions<KestrelServerOptions>().PostConfigure<HttpHostListener, ConnectAllowList, IServiceProvider>((kestrel, listener, allowList, provider) =>
        {
            if (!allowList.IsEnabled) return;
            // Made here, not resolved: it reads Kestrel's limits, which are being configured.
            var middleware = ActivatorUtilities.CreateInstance<ConnectMiddleware>(provider, kestrel.Limits);
            foreach (var listen in listener.Listeners.Concat(listener.SecureListeners))
                listen.Use(middleware.Wrap);
        });
        return services;
    }

    /// <summary>Maps the bridges at <c>/tunnel/{name}</c>, and the answer to a <c>CONNECT</c> that reaches HTTP.</summary>
    public static WebApplication MapTunnels(this WebApplication app)
    {
        app.UseConnectFallback();
        app.MapWebSocketBridges();
        return app;
    }
}
