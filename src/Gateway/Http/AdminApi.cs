using Gateway.Connections;
using Gateway.Security;
using Gateway.Tcp;
using Gateway.Udp;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Http;

/// <summary>What is live: <c>GET /api/endpoints</c>, <c>GET /api/connections</c>, <c>DELETE /api/connections/{id}</c>.</summary>
internal static class AdminApi
{
    public static void MapAdminApi(this IEndpointRouteBuilder routes)
    {
        // Only identities with the Admin permission, once Gateway:Security has permissions.
        var api = routes.MapGroup("/api").WithTags("Admin")
            .AddEndpointFilter(routes.ServiceProvider.GetRequiredService<HttpAccess>().RequireAdmin)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden);
        api.MapGet("/endpoints", ListEndpoints).WithName("ListEndpoints").WithSummary("Lists every endpoint and where it listens.");
        api.MapGet("/connections", ListConnections).WithName("ListConnections").WithSummary("Lists every live connection of every protocol.");
        api.MapDelete("/connections/{id}", Disconnect).WithName("Disconnect").WithSummary("Disconnects a peer of any protocol.")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    /// <summary>One endpoint as the admin API lists it.</summary>
    /// <param name="Connections">Live connections; for UDP, the peers currently tracked.</param>
    /// <param name="Tls">Whether the endpoint speaks TLS.</param>
    /// <param name="FailedTlsHandshakes">TLS handshakes that failed since start (plaintext, untrusted client certificates, timeouts); null without TLS.</param>
    /// <param name="DeniedPublishes">Messages refused since start because their sender may not publish to their topic.</param>
    public sealed record EndpointInfo(string Name, string Protocol, string? Address, string? Publish, IReadOnlyList<string> Subscribe, int Connections,
        bool Tls = false, long? FailedTlsHandshakes = null, long DeniedPublishes = 0);

    /// <summary>One live connection as the admin API lists it.</summary>
    public sealed record ConnectionInfo(
        string Id, string Endpoint, string Protocol, string RemoteAddress, string? Identity, DateTimeOffset ConnectedAt,
        long BytesIn, long BytesOut, long MessagesIn, long MessagesOut);

    private static Ok<List<EndpointInfo>> ListEndpoints(TcpEndpointCatalog tcp, UdpEndpointCatalog udp, HttpHostListener http, ConnectionRegistry registry,
        PermissionPolicy permissions)
    {
        var endpoints = new List<EndpointInfo>();
        // The HTTP host is two endpoints per port: requests with event streams, and WebSocket.
        foreach (var (name, protocol) in HttpHost.Endpoints(secure: http.Tls is not null))
        {
            var secure = name is HttpHost.SecureName or HttpHost.SecureWebSocketName;
            var webSocket = name is HttpHost.WebSocketName or HttpHost.SecureWebSocketName;
            endpoints.Add(new EndpointInfo(name, protocol, (secure ? http.SecureEndPoint : http.BoundEndPoint)?.ToString(),
                webSocket ? "(/ws?publish=)" : "(POST /api/topics/{topic})", [webSocket ? "(/ws?subscribe=)" : "(GET /api/topics/{filter}/events)"],
                registry.All.Count(connection => connection.Endpoint == name), secure, secure ? http.Tls!.FailedHandshakes : null,
                permissions.DeniedPublishes(name)));
        }

        foreach (var endpoint in tcp.Endpoints)
        {
            endpoints.Add(new EndpointInfo(endpoint.Name, endpoint.Protocol, endpoint.BoundEndPoint?.ToString(),
                endpoint.Options.Publish, endpoint.Options.Subscribe, endpoint.ActiveConnections, endpoint.Tls is not null, endpoint.Tls?.FailedHandshakes,
                permissions.DeniedPublishes(endpoint.Name)));
        }

        foreach (var endpoint in udp.Endpoints)
        {
            endpoints.Add(new EndpointInfo(endpoint.Name, UdpEndpoint.Protocol, endpoint.BoundEndPoint?.ToString(),
                endpoint.Options.Publish, endpoint.Options.Subscribe, endpoint.Peers.Count, DeniedPublishes: permissions.DeniedPublishes(endpoint.Name)));
        }

        return TypedResults.Ok(endpoints);
    }

    private static Ok<List<ConnectionInfo>> ListConnections(ConnectionRegistry registry) =>
        TypedResults.Ok(registry.All
            .OrderBy(connection => connection.ConnectedAt)
            .Select(connection => new ConnectionInfo(
                connection.Id, connection.Endpoint, connection.Protocol, connection.RemoteAddress, connection.Identity, connection.ConnectedAt,
                connection.Traffic.BytesIn, connection.Traffic.BytesOut, connection.Traffic.FramesIn, connection.Traffic.FramesOut))
            .ToList());

    private static Results<NoContent, ProblemHttpResult> Disconnect(string id, ConnectionRegistry registry)
    {
        if (!registry.TryGet(id, out var connection))
            return TypedResults.Problem($"No live connection has the id '{id}'.", statusCode: StatusCodes.Status404NotFound, title: "Connection not found");
        connection!.Close("closed by admin");
        return TypedResults.NoContent();
    }
}
