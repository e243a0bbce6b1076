using System.Buffers;
using System.Net.Sockets;
using System.Net.WebSockets;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Http;

namespace Gateway.Routing.Tunnels;

/// <summary>
/// <c>/tunnel/{name}</c> on the HTTP host: each WebSocket is connected to the TCP target configured for that name
/// (<c>Gateway:Tunnels:Bridges</c>), never to an address the client chooses, as websockify does. Its binary messages
/// are the bytes sent to the target; the target's bytes come back as binary messages.
/// </summary>
/// <remarks>
/// Before the upgrade: an unknown name is 404, a request that is no WebSocket 426, an unreachable target 502 (the
/// target is connected first, so a client learns at once, as a status, that it is down). After it, close codes: 1000
/// when the client or the target closes, or an admin disconnects; 1001 when the server shuts down; 1003 for a text
/// message (a bridge carries bytes); 1011 when the target fails mid-stream.
/// </remarks>
internal static class WebSocketBridge
{
    public const string PathPrefix = "/tunnel";

    /// <summary>The endpoint, and the protocol, of bridged WebSockets, as the admin API and the metrics name them.</summary>
    public const string EndpointName = "tunnel";

    public static void MapWebSocketBridges(this IEndpointRouteBuilder routes) =>
        routes.Map(PathPrefix + "/{name}", HandleAsync).WithTags("Tunnels").ExcludeFromDescription();

    private static async Task HandleAsync(string name, HttpContext context, ConnectionSessions sessions, IOptions<GatewayOptions> gateway, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Gateway.Routing.Tunnels");
        var remote = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        var caller = HttpCaller.Of(context);
        var tunnels = gateway.Value.Tunnels;
        if (!tunnels.Bridges.TryGetValue(name, out var bridge) || !HostPort.TryParse(bridge.Target, out var target))
        {
            await RefuseAsync(context, logger, $"/tunnel/{name}", remote, caller, StatusCodes.Status404NotFound, "Unknown tunnel",
                $"No bridge is named '{name}' in Gateway:Tunnels:Bridges.");
            return;
        }

        if (!context.WebSockets.IsWebSocketRequest)
        {
            await RefuseAsync(context, logger, target.Value.ToString(), remote, caller, StatusCodes.Status426UpgradeRequired, "WebSocket upgrade required",
                $"Connect to /tunnel/{name} with a WebSocket client.");
            return;
        }

        var (socket, unreachable) = await TunnelTarget.ConnectAsync(target.Value, tunnels.ConnectTimeout, context.RequestAborted);
        if (socket is null)
        {
            if (unreachable is not null)
                await RefuseAsync(context, logger, target.Value.ToString(), remote, caller, StatusCodes.Status502BadGateway, "Destination unreachable", unreachable);
            return;
        }

        var options = gateway.Value.Http.WebSocket;
        WebSocket webSocket;
        try
        {
            webSocket = await context.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
            {
                KeepAliveInterval = options.KeepAliveInterval,
                KeepAliveTimeout = options.KeepAliveTimeout,
            });
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        using (webSocket)
        {
            var start = new SessionStart(EndpointName, EndpointName, "tunnel-" + context.TraceIdentifier, remote, caller.Identity,
                PublishTopic: null, Subscriptions: [], Outbox: null, Destination: target.Value.ToString());
            await new BridgedWebSocket(webSocket, socket, start, sessions, logger).RunAsync();
        }
    }

    private static Task RefuseAsync(HttpContext context, ILogger logger, string destination, string remote, HttpCaller caller, int status, string title, string detail)
    {
        TunnelLog.Refused(logger, "WebSocket tunnel", destination, remote, caller.Name, status, detail);
        return Results.Problem(detail, statusCode: status, title: title).ExecuteAsync(context);
    }
}

/// <summary>One WebSocket bridged to its target: a loop each way.</summary>
/// <remarks>
/// The WebSocket has one sender, the loop that reads the target: it also sends the close frame, whoever decided to
/// close, so no two sends ever overlap. The receive loop is never cancelled (that would abort the socket); it ends with
/// the client's close frame, or when the close handshake times out and the socket is aborted.
/// </remarks>
internal sealed class BridgedWebSocket(WebSocket webSocket, Socket destination, in SessionStart start, ConnectionSessions sessions, ILogger logger)
    : TunnelConnection(destination, start, sessions, logger)
{
    // How long the client may take to answer our close frame before the socket is aborted.
    private static readonly TimeSpan s_closeHandshakeTimeout = TimeSpan.FromSeconds(5);

    private const int ReadSize = 16 * 1024;

    private WebSocketCloseStatus _closeStatus = WebSocketCloseStatus.NormalClosure;
    private string _closeDescription = "";
    private int _closeDecided;

    public override void Close(string reason) => Stop(WebSocketCloseStatus.NormalClosure, reason, reason);

    public override void Abort(string reason)
    {
        Session.TrySetCloseReason(reason);
        webSocket.Abort();
        Stop(WebSocketCloseStatus.InternalServerError, reason, reason);
    }

    public override void OnServerStopping() => Stop(WebSocketCloseStatus.EndpointUnavailable, CloseReasons.ServerShutdown, CloseReasons.ServerShutdown);

    /// <summary>Decides how the WebSocket closes (the first decision wins), and stops the target's loop, which sends the close frame.</summary>
    private void Stop(WebSocketCloseStatus status, string description, string reason)
    {
        if (Interlocked.Exchange(ref _closeDecided, 1) == 0)
        {
            _closeStatus = status;
            _closeDescription = description;
        }

        Session.TrySetCloseReason(reason);
        Stop();
    }

    protected override async Task ClientToDestinationAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
        try
        {
            while (true)
            {
                var result = await webSocket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                switch (result.MessageType)
                {
                    case WebSocketMessageType.Close:
                        Stop(WebSocketCloseStatus.NormalClosure, "", $"client closed ({(int?)webSocket.CloseStatus} {webSocket.CloseStatusDescription})".TrimEnd());
                        return;
                    case WebSocketMessageType.Text:
                        Stop(WebSocketCloseStatus.InvalidMessageType, "text messages are not carried; send binary", "text message refused");
                        await DiscardUntilCloseAsync(buffer).ConfigureAwait(false);
                        return;
                }

                if (Volatile.Read(ref _closeDecided) != 0)
                {
                    // Closing: what still arrives has nowhere to go.
                    await DiscardUntilCloseAsync(buffer).ConfigureAwait(false);
                    return;
                }

                // Counted as received, before it is forwarded: the destination's answer can reach the client (and the
                // client read the counters) before this send's continuation runs.
                Session.Traffic.BytesIn += result.Count;
                if (result.EndOfMessage) Session.Traffic.FramesIn++;
                await Destination.SendAsync(buffer.AsMemory(0, result.Count), SocketFlags.None, Stopping).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped while sending to the target: the close frame is on its way; the client's answer is not awaited here.
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            TunnelLog.Fault(Logger, Session.Id, ex);
            Stop(WebSocketCloseStatus.InternalServerError, "target failed", ConnectTunnel.DestinationFailed);
        }
        catch (WebSocketException ex)
        {
            TunnelLog.Fault(Logger, Session.Id, ex);
            Stop(WebSocketCloseStatus.InternalServerError, "", "connection lost");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>After a close was decided, reads (and drops) until the client's close frame arrives.</summary>
    private async Task DiscardUntilCloseAsync(byte[] scratch)
    {
        while (webSocket.State is WebSocketState.Open or WebSocketState.CloseSent)
        {
            var result = await webSocket.ReceiveAsync(scratch.AsMemory(), CancellationToken.None).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close) return;
        }
    }

    protected override async Task DestinationToClientAsync()
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReadSize);
        try
        {
            while (true)
            {
                var received = await Destination.ReceiveAsync(buffer.AsMemory(), SocketFlags.None, Stopping).ConfigureAwait(false);
                if (received == 0)
                {
                    Stop(WebSocketCloseStatus.NormalClosure, "target closed", ConnectTunnel.DestinationClosed);
                    break;
                }

                await webSocket.SendAsync(buffer.AsMemory(0, received), WebSocketMessageType.Binary, endOfMessage: true, Stopping).ConfigureAwait(false);
                Session.Traffic.BytesOut += received;
                Session.Traffic.FramesOut++;
            }
        }
        catch (OperationCanceledException)
        {
            // A close was decided elsewhere: the close frame follows.
        }
        catch (SocketException ex)
        {
            TunnelLog.Fault(Logger, Session.Id, ex);
            Stop(WebSocketCloseStatus.InternalServerError, "target failed", ConnectTunnel.DestinationFailed);
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException)
        {
            // The client is gone: there is no one to send a close frame to.
            TunnelLog.Fault(Logger, Session.Id, ex);
            Session.TrySetCloseReason("connection lost");
            return;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        await SendCloseAsync().ConfigureAwait(false);
    }

    private async Task SendCloseAsync()
    {
        if (webSocket.State is not (WebSocketState.Open or WebSocketState.CloseReceived)) return;
        try
        {
            using var timeout = new CancellationTokenSource(s_closeHandshakeTimeout);
            await webSocket.CloseOutputAsync(_closeStatus, _closeDescription, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            TunnelLog.Fault(Logger, Session.Id, ex);
            webSocket.Abort();
            return;
        }

        // A client that never answers the close frame must not hold the tunnel open.
        _ = Task.Delay(s_closeHandshakeTimeout).ContinueWith(static (_, state) =>
        {
            var socket = (WebSocket)state!;
            if (socket.State != WebSocketState.Closed) socket.Abort();
        }, webSocket, TaskScheduler.Default);
    }
}
