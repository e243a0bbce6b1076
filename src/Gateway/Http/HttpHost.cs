namespace Gateway.Http;

/// <summary>
/// The HTTP host's endpoint names, as the admin API lists them, log lines and message sources give them, and
/// denied publishes are counted by: one for requests and one for WebSocket, on each of the plaintext and HTTPS ports.
/// </summary>
internal static class HttpHost
{
    public const string Name = "http";
    public const string SecureName = "https";
    public const string WebSocketName = "ws";
    public const string SecureWebSocketName = "wss";

    /// <summary>The endpoint of an API request or event stream.</summary>
    public static string EndpointOf(HttpRequest request) => request.IsHttps ? SecureName : Name;

    /// <summary>The host's endpoints with their protocols: requests and WebSocket, and their HTTPS twins when <paramref name="secure"/>.</summary>
    public static IEnumerable<(string Name, string Protocol)> Endpoints(bool secure) =>
        secure ? [(Name, "http"), (WebSocketName, "ws"), (SecureName, "https"), (SecureWebSocketName, "wss")] : [(Name, "http"), (WebSocketName, "ws")];

    /// <summary>The endpoint of a WebSocket.</summary>
    public static string WebSocketEndpointOf(HttpRequest request) => request.IsHttps ? SecureWebSocketName : WebSocketName;
}
