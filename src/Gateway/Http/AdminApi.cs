using Gateway.Connections;
using Gateway.Routing;
using Gateway.Security;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Http;

/// <summary>What is live: <c>GET /api/endpoints</c>, <c>GET /api/connections</c>, <c>DELETE /api/connections/{id}</c>, <c>GET /api/routes</c>.</summary>
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
        api.MapRoutesApi();
    }

    /// <summary>One endpoint as the admin API lists it.</summary>
    /// <param name="Connections">Live connections; for UDP, the peers currently tracked.</param>
    /// <param name="Tls">Whether the endpoint speaks TLS.</param>
    /// <param name="FailedTlsHandshakes">
    /// TLS handshakes that failed since start (plaintext, untrusted client certificates, timeouts); null without TLS, and
    /// for <c>wss</c>, whose port's handshakes <c>https</c> counts.
    /// </param>
    /// <param name="DeniedPublishes">Messages refused since start because their sender may not publish to their topic.</param>
    /// <param name="Rejections">What the endpoint's limits refused since start, by reason (the metrics' <c>gateway_rejections_total</c>).</param>
    public sealed record EndpointInfo(string Name, string Protocol, string? Address, string? Publish, IReadOnlyList<string> Subscribe, int Connections,
        bool Tls, long? FailedTlsHandshakes, long DeniedPublishes, IReadOnlyDictionary<string, long> Rejections);

    /// <summary>One live connection as the admin API lists it.</summary>
    /// <param name="Destination">Where a tunnel carries the peer's bytes, "host:port"; null for every other protocol.</param>
    public sealed record ConnectionInfo(
        string Id, string Endpoint, string Protocol, string RemoteAddress, string? Identity, DateTimeOffset ConnectedAt,
        long BytesIn, long BytesOut, long MessagesIn, long MessagesOut, string? Destination = null);

    private static Ok<List<EndpointInfo>> ListEndpoints(EndpointDirectory directory, ConnectionRegistry registry, PermissionPolicy permissions, Rejections rejections)
    {
        var activity = registry.Snapshot();
        return TypedResults.Ok(directory.Endpoints
            .Select(endpoint => new EndpointInfo(endpoint.Name, endpoint.Protocol, endpoint.BoundEndPoint?.ToString(), endpoint.Publish, endpoint.Subscribe,
                activity.GetValueOrDefault(endpoint.Name).OpenConnections, endpoint.Tls, endpoint.FailedTlsHandshakes, permissions.DeniedPublishes(endpoint.Name), rejections.Of(endpoint.Name)))
            .ToList());
    }

    private static Ok<List<ConnectionInfo>> ListConnections(ConnectionRegistry registry) =>
        TypedResults.Ok(registry.All
            .OrderBy(connection => connection.ConnectedAt)
            .Select(connection => new ConnectionInfo(
                connection.Id, connection.Endpoint, connection.Protocol, connection.RemoteAddress, connection.Identity, connection.ConnectedAt,
                connection.Traffic.BytesIn, connection.Traffic.BytesOut, connection.Traffic.FramesIn, connection.Traffic.FramesOut, connection.Destination))
            .ToList());

    private static Results<NoContent, ProblemHttpResult> Disconnect(string id, ConnectionRegistry registry)
    {
        if (!registry.TryGet(id, out var connection))
            return TypedResults.Problem($"No live connection has the id '{id}'.", statusCode: StatusCodes.Status404NotFound, title: "Connection not found");
        connection!.Close("closed by admin");
        return TypedResults.NoContent();
    }
}
