using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using Gateway.Connections;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Overload;
using Gateway.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Routing.Tunnels;

/// <summary>
/// HTTP <c>CONNECT</c> on the HTTP host's ports, as connection middleware in front of Kestrel's HTTP/1.1 parser (after
/// TLS on the HTTPS port). A connection whose first bytes are <c>CONNECT </c> is a tunnel request, handled here;
/// every other connection passes to HTTP with nothing read from it.
/// </summary>
/// <remarks>
/// Why not a request handler: Kestrel (checked on .NET 10) parses <c>CONNECT host:port</c> but does not make it
/// upgradable (<see cref="IHttpUpgradeFeature.IsUpgradableRequest"/> is false unless the client also sends
/// <c>Connection: Upgrade</c>, and then the answer is 101, which proxy clients refuse), and its request body is empty: a
/// handler can answer a <c>CONNECT</c> but never read the tunnel's bytes. So a tunnel must be the connection's first
/// request, as curl, Node's <c>http.request</c> and browsers send it; a <c>CONNECT</c> later on a kept-alive connection
/// reaches HTTP, which refuses it (<see cref="ConnectFallback"/>).
/// </remarks>
internal sealed class ConnectMiddleware(
    ConnectAllowList allowList, PermissionPolicy policy, HttpHostListener listener, ConnectionSessions sessions, OverloadRefusals overload,
    IOptions<Configuration.GatewayOptions> gateway, KestrelServerLimits limits, ILoggerFactory loggers)
{
    private static ReadOnlySpan<byte> ConnectMethod => "CONNECT "u8;

    private readonly ILogger _logger = loggers.CreateLogger("Gateway.Routing.Tunnels");

    // A client can send refused CONNECTs at will: their lines are bounded.
    private readonly LogThrottle _refusedLines = new(loggers.CreateLogger("Gateway.Routing.Tunnels"), "refused CONNECT requests");
    private readonly TimeSpan _connectTimeout = gateway.Value.Tunnels.ConnectTimeout;

    // Kestrel's own limits for a request head apply to this one too.
    private readonly long _maxHeadBytes = limits.MaxRequestLineSize + limits.MaxRequestHeadersTotalSize;
    private readonly TimeSpan _headTimeout = limits.RequestHeadersTimeout;

    public ConnectionDelegate Wrap(ConnectionDelegate next) => connection => OnConnectionAsync(connection, next);

    private async Task OnConnectionAsync(ConnectionContext connection, ConnectionDelegate next)
    {
        if (!await StartsWithConnectAsync(connection.Transport.Input, connection.ConnectionClosed).ConfigureAwait(false))
        {
            await next(connection).ConfigureAwait(false);
            return;
        }

        await HandleAsync(connection).ConfigureAwait(false);
    }

    /// <summary>Peeks at the first bytes: consumes and examines nothing when they are not a CONNECT, so HTTP reads them as they came.</summary>
    private static async Task<bool> StartsWithConnectAsync(PipeReader input, CancellationToken cancellationToken)
    {
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return false;
            }

            var buffer = result.Buffer;
            var seen = MatchConnect(buffer);
            if (seen == Prefix.Partial && !result.IsCompleted)
            {
                // "CONN" so far: wait for more without consuming.
                input.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            input.AdvanceTo(buffer.Start);
            return seen == Prefix.Connect;
        }
    }

    private enum Prefix
    {
        Other,
        Partial,
        Connect,
    }

    private static Prefix MatchConnect(in ReadOnlySequence<byte> buffer)
    {
        Span<byte> start = stackalloc byte[ConnectMethod.Length];
        var length = (int)Math.Min(buffer.Length, start.Length);
        buffer.Slice(0, length).CopyTo(start);
        if (!start[..length].SequenceEqual(ConnectMethod[..length])) return Prefix.Other;
        return length == ConnectMethod.Length ? Prefix.Connect : Prefix.Partial;
    }

    private async Task HandleAsync(ConnectionContext connection)
    {
        var remote = connection.RemoteEndPoint is IPEndPoint ip ? $"{ip.Address}:{ip.Port}" : connection.RemoteEndPoint?.ToString() ?? "unknown";
        var transport = connection.Transport;
        var (request, headProblem) = await ReadHeadAsync(transport.Input, connection.ConnectionClosed).ConfigureAwait(false);
        if (request is null)
        {
            if (headProblem is { } problem) await RefuseAsync(transport.Output, "?", remote, null, problem.Status, problem.Title, problem.Detail).ConfigureAwait(false);
            return;
        }

        // The HTTP host answers 503 while the process is overloaded (Overload/); a tunnel is refused the same way.
        if (overload.Refuses(ConnectTunnel.EndpointName, "a tunnel", connection.RemoteEndPoint))
        {
            await RefuseAsync(transport.Output, request.Target, remote, null, StatusCodes.Status503ServiceUnavailable, "Overloaded",
                $"The gateway is overloaded and opens no tunnel now; retry after {overload.RetryAfter.TotalSeconds:0} s.").ConfigureAwait(false);
            return;
        }

        // A connection over the HTTP host's connection limits gets the 429 its requests would get (Http/HttpConnectionLimits).
        if (HttpConnectionLimits.RefusalOf(connection) is { } limit)
        {
            await RefuseAsync(transport.Output, request.Target, remote, null, StatusCodes.Status429TooManyRequests, "Too many connections",
                $"Refused: {limit}.").ConfigureAwait(false);
            return;
        }

        // A certificate's name was proven in the handshake; it comes first when a request brings both.
        var certificate = connection.Features.Get<ITlsConnectionFeature>()?.ClientCertificate;
        string? keyIdentity = null;
        if (request.ApiKey is { } key && (keyIdentity = policy.ApiKeys.IdentityOf(key)) is null)
        {
            await RefuseAsync(transport.Output, request.Target, remote, null, StatusCodes.Status407ProxyAuthenticationRequired, "Invalid API key",
                "The API key is not one of Gateway:Security:ApiKeys.").ConfigureAwait(false);
            return;
        }

        var identity = listener.Tls?.IdentityOf(certificate) ?? keyIdentity;
        if (identity is null && policy.RequiresAuthentication)
        {
            await RefuseAsync(transport.Output, request.Target, remote, null, StatusCodes.Status407ProxyAuthenticationRequired, "Authentication required",
                $"Send an API key (Proxy-Authorization: Bearer, or {ConnectRequest.ApiKeyHeader}) or a trusted client certificate over HTTPS.").ConfigureAwait(false);
            return;
        }

        if (!allowList.Allows(request.Target, out var destination))
        {
            await RefuseAsync(transport.Output, request.Target, remote, identity, StatusCodes.Status403Forbidden, "Destination not allowed",
                $"'{request.Target}' is not in Gateway:Tunnels:Connect:Allow; this gateway tunnels only to the destinations listed there.").ConfigureAwait(false);
            return;
        }

        var (socket, unreachable) = await TunnelTarget.ConnectAsync(destination.Value, _connectTimeout, connection.ConnectionClosed).ConfigureAwait(false);
        if (socket is null)
        {
            if (unreachable is not null)
                await RefuseAsync(transport.Output, request.Target, remote, identity, StatusCodes.Status502BadGateway, "Destination unreachable", unreachable).ConfigureAwait(false);
            return;
        }

        var tunnel = new ConnectTunnel(transport, connection.Abort, socket,
            new SessionStart(ConnectTunnel.EndpointName, ConnectTunnel.EndpointName, connection.ConnectionId, remote, identity,
                PublishTopic: null, Subscriptions: [], Outbox: null, Destination: destination.Value.ToString()),
            sessions, _logger);
        var answered = await ConnectRequest.WriteEstablishedAsync(transport.Output).ConfigureAwait(false);
        if (answered.IsCompleted)
        {
            socket.Dispose();
            return;
        }

        await tunnel.RunAsync().ConfigureAwait(false);
    }

    private readonly record struct HeadProblem(int Status, string Title, string Detail);

    /// <summary>The request head, or null with the problem to answer (none when the client left or the connection is closing).</summary>
    private async Task<(ConnectRequest? Request, HeadProblem? Problem)> ReadHeadAsync(PipeReader input, CancellationToken connectionClosed)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(connectionClosed);
        timeout.CancelAfter(_headTimeout);
        while (true)
        {
            ReadResult result;
            try
            {
                result = await input.ReadAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return connectionClosed.IsCancellationRequested
                    ? (null, null)
                    : (null, new HeadProblem(StatusCodes.Status408RequestTimeout, "Request timeout", $"The request head did not arrive within {_headTimeout}."));
            }

            var buffer = result.Buffer;
            var done = ConnectRequest.TryParse(ref buffer, out var request, out var error);
            if (done)
            {
                input.AdvanceTo(buffer.Start);
                return error is null ? (request, null) : (null, new HeadProblem(StatusCodes.Status400BadRequest, "Bad CONNECT request", error));
            }

            // We mark examined as buffer.End so that if we didn't receive a full head, we wait for more data.
            input.AdvanceTo(buffer.Start, buffer.End);
            if (buffer.Length > _maxHeadBytes)
                return (null, new HeadProblem(StatusCodes.Status431RequestHeaderFieldsTooLarge, "Request head too large",
                    $"The request head is over {_maxHeadBytes} bytes (Kestrel's request line and header limits)."));
            if (result.IsCompleted) return (null, null);
        }
    }

    private async Task RefuseAsync(PipeWriter output, string destination, string remote, string? identity, int status, string title, string detail)
    {
        if (_refusedLines.Allow()) TunnelLog.Refused(_logger, "CONNECT", destination, remote, identity ?? PermissionPolicy.Anonymous, status, detail);
        await ConnectRequest.WriteProblemAsync(output, status, title, detail).ConfigureAwait(false);
    }
}
