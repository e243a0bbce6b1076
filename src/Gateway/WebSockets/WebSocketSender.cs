using System.Net.WebSockets;
using Gateway.Connections;
using Gateway.Messaging;

namespace Gateway.WebSockets;

/// <summary>
/// The outbound adapter of a WebSocket: drains its session's outbox into the socket (<see cref="RunAsync"/>), and sends
/// the connection's own messages (envelope acknowledgements and errors) and its close frame. Chosen once, at connect,
/// by <see cref="Create"/>: <see cref="EncodedFrameSender"/> on the fast path, <see cref="FrameworkSender"/> otherwise.
/// </summary>
/// <remarks>
/// A WebSocket sends one message at a time, and nothing after its close frame: every send of a message takes the send
/// lock and checks the socket is still open under it. The threading and lock rules of the whole send path are written
/// once, on <see cref="EncodedFrameSender"/>.
/// </remarks>
internal abstract class WebSocketSender(WebSocket socket, ConnectionSession session, ILogger logger)
{
    /// <summary>Past this many gathered bytes the send loop writes them out before taking more messages.</summary>
    protected const int MaxHeldBytes = 64 * 1024;

    /// <summary>One message at a time, and none after the close frame; see <see cref="EncodedFrameSender"/> for the rules.</summary>
    protected SemaphoreSlim SendLock { get; } = new(1, 1);

    protected WebSocket Socket { get; } = socket;

    protected ConnectionSession Session { get; } = session;

    protected Outbox Outbox { get; } = session.Outbox!;

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

    /// <summary>Sends one whole message through the framework's WebSocket; false once the socket can no longer send.</summary>
    public async Task<bool> SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type)
    {
        await SendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Socket.State != WebSocketState.Open) return false;
            await Socket.SendAsync(payload, type, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            WebSocketLog.Fault(logger, Session.Id, ex);
            return false;
        }
        finally
        {
            SendLock.Release();
        }
    }

    /// <summary>Sends the close frame after whatever message is being sent; nothing is sent after it.</summary>
    public async Task CloseOutputAsync(WebSocketCloseStatus status, string reason)
    {
        await SendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await Socket.CloseOutputAsync(status, reason, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            WebSocketLog.Fault(logger, Session.Id, ex);
        }
        finally
        {
            SendLock.Release();
        }
    }

    protected void CountSent(Message message)
    {
        Session.Traffic.FramesOut++;
        Session.Traffic.BytesOut += message.Payload.Length;
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

    protected static bool IsTransportFault(Exception ex) =>
        ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException;

    /// <summary>A write to the connection failed: it ends, as a failed send of the WebSocket would end it. Returns false.</summary>
    protected bool OnTransportLost(Exception ex)
    {
        Session.TrySetCloseReason(WebSocketConnection.ConnectionLost);
        WebSocketLog.Fault(logger, Session.Id, ex);
        Socket.Abort();
        return false;
    }
}
