using Gateway.Configuration;
using Gateway.Connections;

namespace Gateway.WebSockets;

/// <summary>The message and byte rates of each socket (<c>Gateway:Http:WebSocket:Limits</c>), one set per endpoint, <c>ws</c> and <c>wss</c>.</summary>
internal sealed class WebSocketRateLimits
{
    private readonly Dictionary<string, EndpointRateLimits?> _endpoints = new(StringComparer.Ordinal);

    public WebSocketRateLimits(IOptions<GatewayOptions> gateway, Rejections rejections, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Gateway.WebSockets");
        foreach (var endpoint in (string[])[WebSocketEndpoint.Name, WebSocketEndpoint.SecureName])
        {
            _endpoints[endpoint] = EndpointRateLimits.For(endpoint, $"{GatewayOptions.SectionName}:Http:WebSocket:Limits", gateway.Value.Http.WebSocket.Limits,
                RateLimitBreach.Pause, rejections, logger);
        }
    }

    /// <summary>The limits of <paramref name="endpoint"/>'s sockets; null when none is set.</summary>
    public EndpointRateLimits? For(string endpoint) => _endpoints[endpoint];
}
