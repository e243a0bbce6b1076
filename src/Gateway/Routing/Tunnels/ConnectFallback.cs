namespace Gateway.Routing.Tunnels;

/// <summary>
/// A <c>CONNECT</c> that reaches HTTP, where no tunnel can be made: 405 while <c>CONNECT</c> is off (an empty
/// <c>Gateway:Tunnels:Connect:Allow</c>), otherwise 400, as it was not its connection's first request
/// (<see cref="ConnectMiddleware"/>). Either way a problem response and a log line.
/// </summary>
internal static class ConnectFallback
{
    public static void UseConnectFallback(this IApplicationBuilder app)
    {
        var allowList = app.ApplicationServices.GetRequiredService<ConnectAllowList>();
        var logger = app.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway.Routing.Tunnels");
        app.Use((context, next) =>
        {
            if (!HttpMethods.IsConnect(context.Request.Method)) return next(context);

            var target = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestFeature>()?.RawTarget ?? "?";
            var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
            var (status, title, detail) = allowList.IsEnabled
                ? (StatusCodes.Status400BadRequest, "CONNECT must open its connection",
                    "A CONNECT tunnel is made only by the first request of a new HTTP/1.1 connection; send it on a new connection.")
                : (StatusCodes.Status405MethodNotAllowed, "CONNECT is off",
                    "This gateway makes no CONNECT tunnels: Gateway:Tunnels:Connect:Allow lists no destination.");
            TunnelLog.Refused(logger, "CONNECT", target, remote, Security.PermissionPolicy.Anonymous, status, detail);
            if (status == StatusCodes.Status405MethodNotAllowed) context.Response.Headers.Allow = "GET, POST, DELETE";
            // A proxy client that is refused closes; so does the gateway, as it does after every refused CONNECT.
            context.Response.Headers.Connection = "close";
            return Results.Problem(detail, statusCode: status, title: title).ExecuteAsync(context);
        });
    }
}
