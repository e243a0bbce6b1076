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
        return services;
    }
}
