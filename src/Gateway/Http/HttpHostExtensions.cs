using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Http;
using Gateway.Http.Sse;
using Gateway.Observability;
using Gateway.Overload;
using Gateway.Security;
using Gateway.Transport;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>The shared HTTP host: its listener, liveness and readiness, the topics API (publish and server-sent events), the admin API, the demo page and the OpenAPI document. WebSocket shares its ports and registers itself (<see cref="WebSocketServiceCollectionExtensions"/>).</summary>
internal static class HttpHostExtensions
{
    public static IServiceCollection AddHttpHost(this IServiceCollection services)
    {
        services.AddGatewayOptionsCheck<HttpOptionsValidator>();
        services.AddGatewayHealth();
        services.AddProblemDetails();
        services.AddOpenApi();
        services.TryAddSingleton<TopicHistory>();
        services.TryAddSingleton<HttpAccess>();
        services.TryAddSingleton<PublishRateLimit>();
        services.AddKeyedSingleton(HttpPeerAdmission.EventStreams, (provider, _) => new HttpPeerAdmission(
            provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Http.Sse.Limits, $"{GatewayOptions.SectionName}:Http:Sse:Limits", "event streams",
            provider.GetRequiredService<Rejections>(), provider.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Http.Sse")));
        services.AddKeyedSingleton(HttpPeerAdmission.Connections, (provider, _) => new HttpPeerAdmission(
            provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Http.Limits, $"{GatewayOptions.SectionName}:Http:Limits", "connections",
            provider.GetRequiredService<Rejections>(), provider.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Http")));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IEndpointCatalog, HttpEndpointCatalog>());
        services.TryAddSingleton(provider =>
        {
            var https = provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Https;
            var logger = provider.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Security");
            return new HttpHostListener(https.IsEnabled ? new EndpointTls("https", https, logger) : null);
        });
        services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<GatewayOptions>, HttpHostListener, IServiceProvider>((kestrel, gateway, listener, provider) =>
            {
                var http = gateway.Value.Http;
                var transport = gateway.Value.Transport.Kind;
                // Server-wide in Kestrel; only HTTP reads request heads and keeps connections alive between requests.
                kestrel.Limits.RequestHeadersTimeout = http.RequestHeadersTimeout;
                kestrel.Limits.KeepAliveTimeout = http.IdleTimeout;
                var admission = provider.GetRequiredKeyedService<HttpPeerAdmission>(HttpPeerAdmission.Connections);
                TransportListeners.Listen(kestrel, http.Address ?? gateway.Value.DefaultAddress, http.Port, transport, listen =>
                {
                    listener.Listeners.Add(listen);
                    listen.AdmitConnections(admission, HttpHost.Name);
                });
                if (listener.Tls is not { } tls) return;
                var https = gateway.Value.Https;
                TransportListeners.Listen(kestrel, https.Address ?? gateway.Value.DefaultAddress, https.Port, transport, listen =>
                {
                    listener.SecureListeners.Add(listen);
                    listen.AdmitConnections(admission, HttpHost.SecureName);
                    tls.Apply(listen);
                });
            });
        return services;
    }

    public static WebApplication MapHttpHost(this WebApplication app)
    {
        app.UseOverloadGate();
        app.UseConnectionLimits();
        app.UseRequestLogging();
        app.UseStatusCodePages();
        app.Use(app.Services.GetRequiredService<HttpAccess>().Identify);
        app.MapGatewayHealth();
        app.MapGatewayMetrics();
        app.MapOpenApi();
        app.MapTopicsApi();
        app.MapAdminApi();
        app.MapDemoPage();
        return app;
    }
}
