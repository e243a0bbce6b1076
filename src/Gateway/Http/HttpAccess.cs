using Gateway.Observability;
using Gateway.Protocols.Topics;
using Gateway.Security;
using Gateway.WebSockets;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Http;

/// <summary>
/// Who sent an HTTP API or WebSocket request: the identity of its client certificate (over HTTPS) or of its API key,
/// or anonymous, with that identity's permissions.
/// </summary>
internal sealed record HttpCaller(string? Identity, TopicPermissions Permissions)
{
    public string Name => Identity ?? PermissionPolicy.Anonymous;

    /// <summary>The caller of a request under <c>/api</c>, <c>/ws</c> or <c>/tunnel</c>, set by <see cref="HttpAccess.Identify"/>.</summary>
    public static HttpCaller Of(HttpContext context) => context.Features.GetRequiredFeature<HttpCaller>();
}

/// <summary>
/// Authentication and permissions on the HTTP host: identifies each API and WebSocket caller, and refuses what its
/// permissions do not allow with a problem response and a log line.
/// </summary>
internal sealed class HttpAccess(PermissionPolicy policy, HttpHostListener listener, ILoggerFactory loggers)
{
    /// <summary>The API key header; <c>Authorization: Bearer</c> works too, and <c>?access_token=</c> where a client cannot set headers (browsers' WebSocket and EventSource).</summary>
    public const string ApiKeyHeader = "X-Api-Key";

    private readonly ILogger _logger = loggers.CreateLogger("Gateway.Security");

    // A client can send requests with a wrong key or to forbidden topics at will: their lines are bounded.
    private readonly LogThrottle _refusedLines = new(loggers.CreateLogger("Gateway.Security"), "refused API requests");

    /// <summary>
    /// Middleware: identifies the caller of every API and WebSocket request before it reaches its handler; answers
    /// 401 when the API key is wrong, or when authentication is required and the request brings neither a key nor a
    /// certificate.
    /// </summary>
    public async Task Identify(HttpContext context, RequestDelegate next)
    {
        if (!context.Request.Path.StartsWithSegments("/api") && !context.Request.Path.StartsWithSegments(WebSocketEndpoint.Path)
            && !context.Request.Path.StartsWithSegments(Routing.Tunnels.WebSocketBridge.PathPrefix))
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        string? keyIdentity = null;
        if (ApiKeyOf(context.Request) is { } key && (keyIdentity = policy.ApiKeys.IdentityOf(key)) is null)
        {
            await Refuse(context, null, StatusCodes.Status401Unauthorized, "Invalid API key", "The API key is not one of Gateway:Security:ApiKeys.")
                .ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        // A certificate's name was proven in the handshake; it comes first when a request brings both.
        var identity = listener.Tls?.IdentityOf(context.Connection.ClientCertificate) ?? keyIdentity;
        if (identity is null && policy.RequiresAuthentication)
        {
            await Refuse(context, null, StatusCodes.Status401Unauthorized, "Authentication required",
                    $"Send an API key ({ApiKeyHeader} header, Authorization: Bearer, or ?access_token=) or a trusted client certificate over HTTPS.")
                .ExecuteAsync(context).ConfigureAwait(false);
            return;
        }

        context.Features.Set(new HttpCaller(identity, policy.For(identity)));
        await next(context).ConfigureAwait(false);
    }

    /// <summary>Null when the caller may publish to <paramref name="topic"/>; otherwise the 403 to answer, the denial counted on <paramref name="endpoint"/>.</summary>
    public ProblemHttpResult? CheckPublish(HttpContext context, string topic, string endpoint)
    {
        var caller = HttpCaller.Of(context);
        if (caller.Permissions.MayPublish(topic)) return null;
        policy.OnPublishDenied(endpoint);
        return Refuse(context, caller, StatusCodes.Status403Forbidden, "Publish not permitted", $"{caller.Name} may not publish to '{topic}'.");
    }

    /// <summary>Null when the caller may subscribe to <paramref name="filter"/>; otherwise the 403 to answer.</summary>
    public ProblemHttpResult? CheckSubscribe(HttpContext context, TopicFilter filter)
    {
        var caller = HttpCaller.Of(context);
        return caller.Permissions.MaySubscribe(filter)
            ? null
            : Refuse(context, caller, StatusCodes.Status403Forbidden, "Subscription not permitted", $"{caller.Name} may not subscribe to '{filter}'.");
    }

    /// <summary>Endpoint filter of the admin API: only identities with the Admin permission pass.</summary>
    public ValueTask<object?> RequireAdmin(EndpointFilterInvocationContext invocation, EndpointFilterDelegate next)
    {
        var context = invocation.HttpContext;
        var caller = HttpCaller.Of(context);
        return caller.Permissions.IsAdmin
            ? next(invocation)
            : ValueTask.FromResult<object?>(Refuse(context, caller, StatusCodes.Status403Forbidden, "Admin permission required",
                $"{caller.Name} may not use the admin API: it needs Admin in Gateway:Security:Permissions."));
    }

    /// <summary>The problem to answer, logged with who asked for what.</summary>
    private ProblemHttpResult Refuse(HttpContext context, HttpCaller? caller, int status, string title, string detail)
    {
        if (_refusedLines.Allow())
        {
            SecurityLog.RequestRefused(_logger, context.Request.Method, context.Request.Path,
                $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}", caller?.Name ?? PermissionPolicy.Anonymous, status, detail);
        }

        if (status == StatusCodes.Status401Unauthorized) context.Response.Headers.WWWAuthenticate = "Bearer";
        return TypedResults.Problem(detail, statusCode: status, title: title);
    }

    private static string? ApiKeyOf(HttpRequest request)
    {
        if (request.Headers[ApiKeyHeader].FirstOrDefault() is { Length: > 0 } header) return header;
        const string bearer = "Bearer ";
        if (request.Headers.Authorization.FirstOrDefault() is { } authorization && authorization.StartsWith(bearer, StringComparison.OrdinalIgnoreCase))
            return authorization[bearer.Length..].Trim();
        return request.Query["access_token"].FirstOrDefault() is { Length: > 0 } token ? token : null;
    }
}
