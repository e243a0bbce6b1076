using Gateway.Connections;
using Gateway.Tcp;
using Gateway.Udp;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Http;

/// <summary>What is live: <c>GET /api/endpoints</c>, <c>GET /api/connections</c>, <c>DELETE /api/connections/{id}</c>.</summary>
internal static class AdminApi
{
    public static void MapAdminApi(this IEndpointRouteBuilder routes)
    {
        var api = routes.MapGroup("/api").WithTags("Admin");
        api.MapGet("/endpoints", ListEndpoints).WithName("ListEndpoints").WithSummary("Lists every endpoint and where it listens.");
        api.MapGet("/connections", ListConnections).WithName("ListConnections").WithSummary("Lists every live connection of every protocol.");
        api.MapDelete("/connections/{id}", Disconnect).WithName("Disconnect").WithSummary("Disconnects a peer of any protocol.")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    /// <summary>One endpoint as the admin API lists it.</summary>
    /// <param name="Connections">Live connections; for UDP, the peers currently tracked.</param>
    /// <param name="Tls">Whether the endpoint speaks TLS.</param>
    /// <param name="FailedTlsHandshakes">TLS handshakes that failed since start (plaintext, untrusted client certificates, timeouts); null without TLS.</param>
    public sealed record EndpointInfo(string Name, string Protocol, string? Address, string? Publish, IReadOnlyList<string> Subscribe, int Connections,
        bool Tls = false, long? FailedTlsHandshakes = null);

    /// <summary>One live connection as the admin API lists it.</summary>
    public sealed record ConnectionInfo(
        string Id, string Endpoint, string Protocol, string RemoteAddress, string? Identity, DateTimeOffset ConnectedAt,
        long BytesIn, long BytesOut, long MessagesIn, long MessagesOut);

    private static Ok<List<EndpointInfo>> ListEndpoints(TcpEndpointCatalog tcp, UdpEndpointCatalog udp, HttpHostListener http, ConnectionRegistry registry)
    {
        var endpoints = new List<EndpointInfo>
        {
            new("http", "http", http.BoundEndPoint?.ToString(), "(POST /api/topics/{topic})", ["(GET /api/topics/{filter}/events)"],
                registry.All.Count(connection => connection.Endpoint == "http")),
        };
        foreach (var endpoint in tcp.Endpoints)
        {
            endpoints.Add(new EndpointInfo(endpoint.Name, endpoint.IsUnixSocket ? "unix" : "tcp", endpoint.BoundEndPoint?.ToString(),
                endpoint.Options.Publish, endpoint.Options.Subscribe, endpoint.ActiveConnections, endpoint.Tls is not null, endpoint.Tls?.FailedHandshakes));
        }

        foreach (var endpoint in udp.Endpoints)
        {
            endpoints.Add(new EndpointInfo(endpoint.Name, "udp", endpoint.BoundEndPoint?.ToString(),
                endpoint.Options.Publish, endpoint.Options.Subscribe, endpoint.Peers.Count));
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
