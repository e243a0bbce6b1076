using System.Net.WebSockets;
using Microsoft.AspNetCore.Http.Features;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Http;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Security;
using Gateway.Transport;

namespace Gateway.WebSockets;

/// <summary>
/// <c>/ws</c> on the HTTP host. Raw mode takes its topics from the query
/// (<c>?subscribe=a/+/b&amp;subscribe=c/%23&amp;publish=topic</c>); the "gateway.v1.json" subprotocol
/// switches to JSON envelope commands (<see cref="EnvelopeProtocol"/>).
/// </summary>
internal static class WebSocketEndpoint
{
    public const string Path = "/ws";

    /// <summary>The endpoint of WebSockets on the HTTP host's plaintext port.</summary>
    public const string Name = "ws";

    /// <summary>The endpoint of WebSockets on the HTTPS port.</summary>
    public const string SecureName = "wss";

    /// <summary>The endpoint of a WebSocket request.</summary>
    public static string EndpointOf(HttpRequest request) => request.IsHttps ? SecureName : Name;

    private static readonly string[] s_queryParameters = ["subscribe", "publish", "access_token"];

    public static void MapWebSocketEndpoint(this WebApplication app)
    {
        // Before the WebSocket middleware, which takes the upgrade feature it finds when the request arrives.
        var lingerTimeout = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.Http.WebSocket.LingerTimeout;
        app.Use((context, next) =>
        {
            if (context.Request.Path == Path && context.Features.Get<IHttpUpgradeFeature>() is { } upgrade)
            {
                // Under TLS the socket carries ciphertext: only Kestrel's stream may write to it. The connection's TLS
                // feature is asked, not the request's scheme, which forwarded-header handling may rewrite.
                var direct = context.Features.Get<ITlsConnectionFeature>() is null ? context.Features.Get<IDirectSendFeature>() : null;
                context.Features.Set<IHttpUpgradeFeature>(new CoalescingUpgradeFeature(upgrade, direct, lingerTimeout));
            }
            return next(context);
        });
        app.UseWebSockets();
        app.Map(Path, HandleAsync).WithTags("WebSocket").ExcludeFromDescription();
    }

    private static async Task HandleAsync(HttpContext context, IMessageBus bus, ConnectionSessions sessions, HttpAccess access,
        WebSocketRefusals refusals, WebSocketRateLimits rateLimits, [FromKeyedServices(HttpPeerAdmission.WebSockets)] HttpPeerAdmission admission,
        IOptions<GatewayOptions> gateway, ILoggerFactory loggers)
    {
        var options = gateway.Value.Http.WebSocket;
        var logger = loggers.CreateLogger("Gateway.WebSockets");
        var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";

        if (!context.WebSockets.IsWebSocketRequest)
        {
            await Refuse(context, refusals, logger, remote, StatusCodes.Status426UpgradeRequired, "WebSocket upgrade required", "Connect to /ws with a WebSocket client.");
            return;
        }

        var origin = context.Request.Headers.Origin.ToString();
        if (origin.Length > 0 && options.AllowedOrigins.Count > 0 && !options.AllowedOrigins.Contains(origin, StringComparer.OrdinalIgnoreCase))
        {
            await Refuse(context, refusals, logger, remote, StatusCodes.Status403Forbidden, "Origin not allowed",
                $"Origin '{origin}' is not in Gateway:Http:WebSocket:AllowedOrigins.");
            return;
        }

        if (context.Request.Query.Keys.FirstOrDefault(key => !s_queryParameters.Contains(key, StringComparer.OrdinalIgnoreCase)) is { } unknown)
        {
            await Refuse(context, refusals, logger, remote, StatusCodes.Status400BadRequest, "Unknown query parameter",
                $"'{unknown}' is not a query parameter of {Path}; the known ones are {string.Join(", ", s_queryParameters)}.");
            return;
        }

        var envelope = context.WebSockets.WebSocketRequestedProtocols.Contains(EnvelopeProtocol.SubprotocolName);
        var filters = new List<TopicFilter>();
        foreach (var text in context.Request.Query["subscribe"])
        {
            if (!TopicFilter.TryParse(text, out var filter, out var filterError))
            {
                await Refuse(context, refusals, logger, remote, StatusCodes.Status400BadRequest, "Invalid topic filter", filterError);
                return;
            }

            if (access.CheckSubscribe(context, filter) is { } denied)
            {
                await denied.ExecuteAsync(context);
                return;
            }

            filters.Add(filter);
        }

        var publish = context.Request.Query["publish"].FirstOrDefault();
        if (publish is not null && !Topic.IsValid(publish, out var topicError))
        {
            await Refuse(context, refusals, logger, remote, StatusCodes.Status400BadRequest, "Invalid topic", topicError);
            return;
        }

        if (admission.TryAdmit(context, EndpointOf(context.Request)) is { } tooMany)
        {
            await tooMany.ExecuteAsync(context);
            return;
        }

        try
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                SubProtocol = envelope ? EnvelopeProtocol.SubprotocolName : null,
                KeepAliveInterval = options.KeepAliveInterval,
                KeepAliveTimeout = options.KeepAliveTimeout,
            });

            var stream = (context.Features.Get<IHttpUpgradeFeature>() as CoalescingUpgradeFeature)?.Stream;
            var connection = new WebSocketConnection(context, socket, stream, envelope, publish, filters, bus, sessions, refusals, rateLimits, options, logger);
            await connection.RunAsync();
        }
        finally
        {
            admission.Release(context);
        }
    }

    private static Task Refuse(HttpContext context, WebSocketRefusals refusals, ILogger logger, string remote, int status, string title, string? detail)
    {
        if (refusals.RefusedUpgradeLines.Allow()) WebSocketLog.Rejected(logger, remote, $"{title}: {detail}");
        return Results.Problem(detail, statusCode: status, title: title).ExecuteAsync(context);
    }
}
