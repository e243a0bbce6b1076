using System.Buffers;
using System.Net.WebSockets;
using Gateway.Connections;
using Gateway.Messaging;

namespace Gateway.WebSockets;

/// <summary>
/// Sends each message through the framework's WebSocket: as a JSON envelope in envelope mode, else as one text or binary
/// message by its content type. A batch waiting in the outbox is gathered by the stream under the WebSocket into one write.
/// </summary>
/// <remarks>
/// The send lock keeps one message at a time going to the framework's WebSocket (the send loop's, the envelope commands'
/// acknowledgements) and none after our close frame, whose send takes it too and after which the socket no longer
/// reads as open.
/// </remarks>
internal sealed class FrameworkSender(WebSocket socket, CoalescingStream? stream, bool envelope, ConnectionSession session, ILogger logger)
    : WebSocketSender(socket, session, logger)
{
    private readonly SemaphoreSlim _sendLock = new(1, 1);

    public override async Task RunAsync()
    {
        var json = new PooledBufferWriter(1024);
        while (await Outbox.WaitToReadAsync().ConfigureAwait(false))
        {
            // Several messages waiting (a burst, or a subscriber that fell behind): one write for all of them.
            var holding = Outbox.Count > 1 ? stream : null;
            holding?.Hold();
            bool open;
            try
            {
                open = await SendQueuedAsync(json, holding).ConfigureAwait(false);
            }
            finally
            {
                // Back to the pool before the next wait: an idle socket holds no buffer.
                json.Release();
            }

            // Released whatever happened: a close frame sent meanwhile may be among the gathered bytes.
            if (holding is not null) open = await ReleaseAsync(holding).ConfigureAwait(false) && open;
            if (!open) return;
        }
    }

    /// <summary>Sends what the outbox holds, up to <see cref="WebSocketSender.MaxHeldBytes"/> gathered; false once the socket can no longer send.</summary>
    private async Task<bool> SendQueuedAsync(PooledBufferWriter json, CoalescingStream? holding)
    {
        while ((holding is null || holding.HeldBytes < MaxHeldBytes) && Outbox.TryRead(out var message))
        {
            bool sent;
            if (envelope)
            {
                json.ResetWrittenCount();
                EnvelopeProtocol.WriteMessage(message, json);
                sent = await SendAsync(json.WrittenMemory, WebSocketMessageType.Text).ConfigureAwait(false);
            }
            else
            {
                var type = MessagePayload.IsText(message) ? WebSocketMessageType.Text : WebSocketMessageType.Binary;
                sent = await SendAsync(message.Payload, type).ConfigureAwait(false);
            }

            if (!sent) return false;
            CountSent(message);
        }

        return true;
    }

    /// <summary>Sends one whole message through the framework's WebSocket; false once the socket can no longer send.</summary>
    public async Task<bool> SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type)
    {
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Socket.State != WebSocketState.Open) return false;
            await Socket.SendAsync(payload, type, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (IsSocketGone(ex))
        {
            WebSocketLog.Fault(Logger, Session.Id, ex);
            return false;
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public override async Task CloseOutputAsync(WebSocketCloseStatus status, string reason)
    {
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await SendCloseFrameAsync(status, reason).ConfigureAwait(false);
        }
        finally
        {
            _sendLock.Release();
        }
    }
}
