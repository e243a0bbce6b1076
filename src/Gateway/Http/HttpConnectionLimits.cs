using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Http;

/// <summary>
/// The HTTP host's connection limits, <c>Gateway:Http:Limits:ConnectionsPerSecond</c> (<c>ConnectionBurst</c>) and
/// <c>MaxConnectionsPerAddress</c>, on every connection to its ports: each is admitted or refused as it opens, before
/// its TLS handshake, and a refusal is counted and logged then (<see cref="HttpPeerAdmission"/>). A refused connection
/// is not closed at once: its requests are answered 429 with <c>Retry-After</c> and <c>Connection: close</c>, HTTP's own
/// signal, as the overload's 503 is. The operators' reads still answer (<see cref="HttpHost.IsForOperators"/>).
/// </summary>
internal static class HttpConnectionLimits
{
    // The limit a refused connection broke, among the connection's items: its requests read it there.
    private static readonly object s_refusedFor = new();

    /// <summary>Admits each connection the listener accepts, or marks it refused. Add it before the listener's TLS.</summary>
    /// <param name="endpoint">The endpoint a refusal is counted on: <c>http</c> or <c>https</c>.</param>
    public static void AdmitConnections(this ListenOptions listen, HttpPeerAdmission admission, string endpoint)
    {
        if (!admission.Limits) return;
        listen.Use(next => async connection =>
        {
            var address = (connection.RemoteEndPoint as IPEndPoint)?.Address;
            var limit = admission.TryAdmit(address, endpoint);
            if (limit is not null) connection.Items[s_refusedFor] = limit;
            try
            {
                await next(connection).ConfigureAwait(false);
            }
            finally
            {
                // Only an admitted connection holds a place to give back.
                if (limit is null) admission.Release(address);
            }
        });
    }

    /// <summary>The limit <paramref name="connection"/> was refused for; null when it was admitted.</summary>
    public static string? RefusalOf(ConnectionContext connection) => RefusalOf(connection.Items);

    /// <summary>Answers the requests of a refused connection 429. Add it early, so that such a request costs nothing further.</summary>
    public static WebApplication UseConnectionLimits(this WebApplication app)
    {
        var admission = app.Services.GetRequiredKeyedService<HttpPeerAdmission>(HttpPeerAdmission.Connections);
        if (!admission.Limits) return app;
        app.Use((context, next) =>
        {
            if (context.Features.Get<IConnectionItemsFeature>() is not { } items || RefusalOf(items.Items) is not { } limit ||
                HttpHost.IsForOperators(context.Request.Path))
                return next(context);
            // An HTTP/1.1 client is told to go: its next connection is admitted or refused anew.
            if (HttpProtocol.IsHttp11(context.Request.Protocol)) context.Response.Headers.Connection = "close";
            return admission.Refusal(context, limit).ExecuteAsync(context);
        });
        return app;
    }

    private static string? RefusalOf(IDictionary<object, object?> items) => items.TryGetValue(s_refusedFor, out var limit) ? (string?)limit : null;
}
