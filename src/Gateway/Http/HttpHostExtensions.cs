using Gateway.Configuration;
using Gateway.Http;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>The shared HTTP host: its listener and, for now, liveness.</summary>
internal static class HttpHostExtensions
{
    public static IServiceCollection AddHttpHost(this IServiceCollection services)
    {
        services.AddHealthChecks();
        services.TryAddSingleton<HttpHostListener>();
        services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<GatewayOptions>, HttpHostListener>((kestrel, gateway, listener) =>
            {
                var http = gateway.Value.Http;
                ListenAddress.Listen(kestrel, http.Address ?? gateway.Value.DefaultAddress, http.Port, listener.Listeners.Add);
            });
        return services;
    }

    public static WebApplication MapHttpHost(this WebApplication app)
    {
        app.MapHealthChecks("/healthz");
        return app;
    }
}
