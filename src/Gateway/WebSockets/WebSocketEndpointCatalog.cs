using Gateway.Connections;
using Gateway.Http;

namespace Gateway.WebSockets;

/// <summary>WebSocket's endpoints: <c>ws</c> on the HTTP host's port, and <c>wss</c> on the HTTPS port when it has a certificate.</summary>
internal sealed class WebSocketEndpointCatalog(HttpHostListener listener) : IEndpointCatalog
{
    public IEnumerable<IEndpointDescription> Endpoints { get; } =
        listener.Describe(WebSocketEndpoint.Name, WebSocketEndpoint.SecureName, "(/ws?publish=)", "(/ws?subscribe=)", countsHandshakes: false);
}
