using Gateway.Configuration;
using Gateway.Http;
using Gateway.Http.Sse;
using Gateway.WebSockets;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>The shared HTTP host: its listener, liveness, the topics API (publish and server-sent events), the admin API and the OpenAPI document.</summary>
internal static class HttpHostExtensions
{
    public static IServiceCollection AddHttpHost(this IServiceCollection services)
    {
        services.AddHealthChecks();
        services.AddProblemDetails();
        services.AddOpenApi();
        services.TryAddSingleton<TopicHistory>();
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
        app.UseStatusCodePages();
        app.MapHealthChecks("/healthz");
        app.MapOpenApi();
        app.MapTopicsApi();
        app.MapAdminApi();
        app.MapWebSocketEndpoint();
        app.MapDemoPage();
        return app;
    }
}
