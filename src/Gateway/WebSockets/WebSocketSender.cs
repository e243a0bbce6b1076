using System.Net.WebSockets;
using Gateway.Connections;
using Gateway.Messaging;

namespace Gateway.WebSockets;

/// <summary>
/// The outbound adapter of a WebSocket: drains its session's outbox into the socket (<see cref="RunAsync"/>) and sends
/// its close frame. Chosen once, at connect, by <see cref="Create"/>: <see cref="EncodedFrameSender"/> on the fast path,
/// <see cref="FrameworkSender"/> otherwise. The threading and lock rules of the send path are written once, on
/// <see cref="EncodedFrameSender"/>.
/// </summary>
internal abstract class WebSocketSender(WebSocket socket, ConnectionSession session, ILogger logger)
{
    /// <summary>Past this many gathered bytes the send loop writes them out before taking more messages.</summary>
    protected const int MaxHeldBytes = 64 * 1024;

    // Held directly: a fan-out counts each subscriber's frame, and the session's own object would be one more cold line.
    private readonly ConnectionTraffic _traffic = session.Traffic;

    protected WebSocket Socket { get; } = socket;

    protected ConnectionSession Session { get; } = session;

    protected Outbox Outbox { get; } = session.Outbox!;

    protected ILogger Logger { get; } = logger;

    /// <summary>
    /// The sender for a connection: pre-encoded frames written in place of waking the send loop where the transport sends
    /// directly (a raw-mode socket on a plaintext connection of the epoll transport); the framework WebSocket's sends
    /// elsewhere (envelope mode, TLS, the socket transport, HTTP/2).
    /// </summary>
    /// <param name="stream">The stream under the WebSocket, to gather a batch of messages into one write; null when there is none (HTTP/2).</param>
    public static WebSocketSender Create(WebSocket socket, CoalescingStream? stream, bool envelope, ConnectionSession session, ILogger logger) =>
        !envelope && stream is { SendsDirectly: true }
            ? new EncodedFrameSender(socket, stream, session, logger)
            : new FrameworkSender(socket, stream, envelope, session, logger);

    /// <summary>The send loop: sends what the outbox holds until it is completed and drained, or the socket can no longer send.</summary>
    public abstract Task RunAsync();

    /// <summary>Sends the close frame after whatever message is being sent; no message is sent after it.</summary>
    public abstract Task CloseOutputAsync(WebSocketCloseStatus status, string reason);

    /// <summary>The framework's close, with the faults of a socket already gone logged rather than thrown.</summary>
    protected async Task SendCloseFrameAsync(WebSocketCloseStatus status, string reason)
    {
        try
        {
            if (Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await Socket.CloseOutputAsync(status, reason, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsSocketGone(ex))
        {
            WebSocketLog.Fault(Logger, Session.Id, ex);
        }
    }

    protected void CountSent(Message message)
    {
        // A message sent keeps the socket from its idle timeout as one received does; pings do not.
        Session.Touch();
        _traffic.FramesOut++;
        _traffic.BytesOut += message.Payload.Length;
    }

    /// <summary>Writes what <paramref name="stream"/> gathered; a failure ends the connection, as a failed send of the WebSocket would.</summary>
    protected async Task<bool> ReleaseAsync(CoalescingStream stream)
    {
        try
        {
            await stream.ReleaseAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (IsTransportFault(ex))
        {
            return OnTransportLost(ex);
        }
    }

    /// <summary>What the framework's WebSocket throws for a send or close on a socket that is gone: logged, not thrown on.</summary>
    protected static bool IsSocketGone(Exception ex) => ex is WebSocketException or ObjectDisposedException or OperationCanceledException;

    protected static bool IsTransportFault(Exception ex) =>
        ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException;

    /// <summary>A write to the connection failed: it ends, as a failed send of the WebSocket would end it. Returns false.</summary>
    protected bool OnTransportLost(Exception ex)
    {
        Session.TrySetCloseReason(WebSocketConnection.ConnectionLost);
        WebSocketLog.Fault(Logger, Session.Id, ex);
        Socket.Abort();
        return false;
    }
}
