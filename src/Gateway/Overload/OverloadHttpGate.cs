using System.Globalization;
using Gateway.Http;
using Microsoft.Net.Http.Headers;

namespace Gateway.Overload;

/// <summary>
/// Answers HTTP requests with 503 and <c>Retry-After</c> while the process is overloaded: publishes, event streams and
/// WebSocket upgrades (tunnel bridges among them) alike. What an operator needs to see and relieve the overload still answers
/// (<see cref="HttpHost.IsForOperators"/>); readiness then fails.
/// </summary>
internal static class OverloadHttpGate
{
    /// <summary>Add it first, so a refused request costs nothing further (and writes no request line of its own).</summary>
    public static WebApplication UseOverloadGate(this WebApplication app)
    {
        var refusals = app.Services.GetRequiredService<OverloadRefusals>();
        var retryAfter = ((long)refusals.RetryAfter.TotalSeconds).ToString(CultureInfo.InvariantCulture);
        app.Use((context, next) =>
        {
            if (!refusals.IsOverloaded || HttpHost.IsForOperators(context.Request.Path)) return next(context);
            var connection = context.Connection;
            refusals.Refuse(HttpHost.EndpointOf(context.Request), "a request",
                connection.RemoteIpAddress is { } address ? new System.Net.IPEndPoint(address, connection.RemotePort) : null);
            context.Response.Headers[HeaderNames.RetryAfter] = retryAfter;
            // An HTTP/1.1 peer is not kept waiting on an idle keep-alive connection: its buffers are freed with it.
            if (HttpProtocol.IsHttp11(context.Request.Protocol)) context.Response.Headers.Connection = "close";
            return Results.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Overloaded",
                detail: $"The gateway is short of memory and takes no new work; retry after {retryAfter} s.").ExecuteAsync(context);
        });
        return app;
    }
}
