using Gateway.Configuration;
using Gateway.Connections;
using Gateway.WebSockets;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers WebSocket at <c>/ws</c> on the HTTP host: its settings' checks, its endpoints' descriptions and the counting of what it refuses (<c>ws</c>, and <c>wss</c> on the HTTPS port).</summary>
internal static class WebSocketServiceCollectionExtensions
{
    public static IServiceCollection AddWebSocketEndpoint(this IServiceCollection services)
    {
        services.AddGatewayOptionsCheck<WebSocketOptionsValidator>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IEndpointCatalog, WebSocketEndpointCatalog>());
        services.TryAddSingleton<WebSocketRefusals>();
        services.TryAddSingleton<WebSocketRateLimits>();
        services.AddKeyedSingleton(Gateway.Http.HttpPeerAdmission.WebSockets, (provider, _) => new Gateway.Http.HttpPeerAdmission(
            provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Http.WebSocket.Limits, $"{GatewayOptions.SectionName}:Http:WebSocket:Limits", "WebSockets",
            provider.GetRequiredService<Rejections>(), provider.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.WebSockets")));
        return services;
    }
}
