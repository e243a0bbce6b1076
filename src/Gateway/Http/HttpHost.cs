using System.Net;
using Gateway.Connections;
using Gateway.Security;

namespace Gateway.Http;

/// <summary>
/// The HTTP host's endpoint names, as the admin API lists them, log lines and message sources give them, and denied
/// publishes are counted by: requests (the API and event streams) on the plaintext port and on the HTTPS port.
/// WebSocket has its own two on the same ports (<see cref="WebSockets.WebSocketEndpoint"/>).
/// </summary>
internal static class HttpHost
{
    public const string Name = "http";
    public const string SecureName = "https";

    /// <summary>
    /// What an operator needs to see and relieve an overload or a flood, which the HTTP host answers even to a client it
    /// refuses: liveness, readiness, the metrics and the admin API's endpoints, connections (to close some) and routes.
    /// Cheap reads that neither hold a connection open nor take memory per request.
    /// </summary>
    private static readonly PathString[] s_operatorPaths =
        ["/healthz", "/readyz", "/metrics", "/api/endpoints", "/api/connections", "/api/routes"];

    /// <summary>The endpoint of an API request or event stream.</summary>
    public static string EndpointOf(HttpRequest request) => request.IsHttps ? SecureName : Name;

    /// <summary>Whether <paramref name="path"/> is one of the operators' reads (<see cref="s_operatorPaths"/>).</summary>
    public static bool IsForOperators(PathString path)
    {
        foreach (var operatorPath in s_operatorPaths)
        {
            if (path.StartsWithSegments(operatorPath)) return true;
        }

        return false;
    }
}

/// <summary>The HTTP host's request endpoints: <c>http</c>, and <c>https</c> when the HTTPS port has a certificate.</summary>
internal sealed class HttpEndpointCatalog(HttpHostListener listener) : IEndpointCatalog
{
    // The HTTPS port's failed handshakes are counted here: a handshake fails before any request says what it is for.
    public IEnumerable<IEndpointDescription> Endpoints { get; } =
        listener.Describe(HttpHost.Name, HttpHost.SecureName, "(POST /api/topics/{topic})", "(GET /api/topics/{filter}/events)", countsHandshakes: true);
}

/// <summary>
/// An endpoint that lives on one of the HTTP host's ports. Its traffic is its connections' (event streams, WebSockets)
/// and its requests' (publishes), which the registry counts.
/// </summary>
/// <param name="countsHandshakes">
/// Whether this endpoint reports the port's failed TLS handshakes: a handshake fails before any request says whether it
/// is an API call or a WebSocket, so one endpoint of the port counts them.
/// </param>
internal sealed class HttpHostEndpoint(string name, string protocol, Func<EndPoint?> boundEndPoint, string publish, string subscribe,
    EndpointTls? tls = null, bool countsHandshakes = false) : IEndpointDescription
{
    public string Name => name;

    public string Protocol => protocol;

    public EndPoint? BoundEndPoint => boundEndPoint();

    public string? Publish => publish;

    public IReadOnlyList<string> Subscribe { get; } = [subscribe];

    public string Details => "";

    public bool Tls => tls is not null;

    public long? FailedTlsHandshakes => countsHandshakes ? tls?.FailedHandshakes : null;

    public long? FramingErrors => null;

    public string TrafficUnit => "frame";

    public EndpointTraffic? Traffic => null;

    public IEnumerable<(string Reason, long Count)> Drops => [];
}
