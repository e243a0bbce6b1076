using System.Net.WebSockets;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Transport;

namespace Gateway.WebSockets;

/// <summary>
/// The fast path of a raw-mode WebSocket on a plaintext connection of the epoll transport: each message goes out as its
/// frame encoded once for every subscriber (<see cref="WebSocketFrame"/>), past the framework's WebSocket, and while the
/// send loop waits, the frames are written on the delivering thread in its place (<see cref="IOutboxWriter"/>) and handed
/// to the transport's direct send. A light fan-out then costs one entry per subscriber in the transport's batched send
/// (one <c>send</c> each where that is unavailable) and no wake-up of 1,000 send loops.
/// </summary>
/// <remarks>
/// <para><b>The send path's threads.</b> A frame is written by one of: the delivering thread, in <see cref="TryWriteNow"/>,
/// between deliveries to other subscribers (it must neither block nor throw); the send loop (<see cref="RunAsync"/>), woken
/// for what the delivering thread left; the transport's thread that ends a batched send, in <see cref="OnSent"/>; and, for
/// the rest of a write Kestrel did not take at once, the continuation that waits for it. The framework's WebSocket writes
/// on its own too: pongs, keep-alive pings and the close frame.</para>
/// <para><b>The locks, in the order they are taken; none is held while a later one is waited for.</b></para>
/// <list type="number">
/// <item><description><b>The outbox's lock</b> (<see cref="Messaging.Outbox"/>): guards its queue only. It is never held while
/// anything else is called: a publish queues under it, and wakes the reader or calls the writer after releasing it. The
/// outbox also decides who writes: the writer runs only while the send loop waits, so the two never take messages at
/// once, and the queue's order is the sockets'.</description></item>
/// <item><description><b>The stream's gate</b> (<see cref="CoalescingStream"/>): one write at a time to the connection, ours and
/// the framework's own, so a pong never cuts into a frame; held from a frame's write until the write has completed, which
/// for a batched direct send is when <see cref="OnSent"/> runs. Nothing follows our close frame: <see cref="CloseOutputAsync"/>
/// marks the sender closing before the framework writes the close frame, under the same gate, and every frame is written
/// only if, under the gate, the sender is not closing. The delivering thread only tries the gate (<c>Wait(0)</c>) and
/// wakes the send loop when it is taken; the send loop waits for it asynchronously.</description></item>
/// <item><description><b>The transport's direct-send gate</b> (inside <see cref="IDirectSendFeature"/>): a direct send never
/// overtakes bytes still in the connection's pipe, and the socket is not closed while a batched send holds its descriptor.
/// Inside the transport; the delivering thread only tries it.</description></item>
/// </list>
/// <para>While a write holds the gate, a delivery that finds it taken wakes the send loop, which waits for it and then writes
/// in order. (<see cref="FrameworkSender"/>, which sends through the framework's WebSocket, adds a send lock of its own above
/// the gate: one framework message at a time.)</para>
/// </remarks>
internal sealed class EncodedFrameSender : WebSocketSender, IOutboxWriter, IDirectSendCompletion
{
    private readonly CoalescingStream _stream;
    private byte[]? _handedFrame; // a frame handed to the transport's direct send: the gate is held until OnSent
    private volatile bool _closing; // set before our close frame is written; read under the gate

    public EncodedFrameSender(WebSocket socket, CoalescingStream stream, ConnectionSession session, ILogger logger)
        : base(socket, session, logger)
    {
        _stream = stream;
        Outbox.WriteInPlaceOfWaking(this);
    }

    public override async Task RunAsync()
    {
        while (await Outbox.WaitToReadAsync().ConfigureAwait(false))
        {
            // Several messages waiting (a burst, or a subscriber that fell behind): one write for all of them.
            var holding = Outbox.Count > 1;
            if (holding) _stream.Hold();
            var open = await SendQueuedAsync(holding).ConfigureAwait(false);
            // Released whatever happened: a close frame sent meanwhile may be among the gathered bytes.
            if (holding) open = await ReleaseAsync(_stream).ConfigureAwait(false) && open;
            if (!open) return;
        }
    }

    /// <summary>Sends what the outbox holds, up to <see cref="WebSocketSender.MaxHeldBytes"/> gathered; false once the socket can no longer send.</summary>
    private async Task<bool> SendQueuedAsync(bool holding)
    {
        while ((!holding || _stream.HeldBytes < MaxHeldBytes) && Outbox.TryRead(out var message))
        {
            if (!await SendFrameAsync(WebSocketFrame.Of(message)).ConfigureAwait(false)) return false;
            CountSent(message);
        }

        return true;
    }

    /// <summary>
    /// Writes a frame to the stream under the WebSocket, which keeps each write whole, so the framework's own frames
    /// never cut into it. False once the socket can no longer send.
    /// </summary>
    private async Task<bool> SendFrameAsync(byte[] frame)
    {
        await _stream.EnterAsync().ConfigureAwait(false);
        try
        {
            if (!MayWrite) return false;
            await _stream.WriteEntered(frame).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (IsTransportFault(ex))
        {
            return OnTransportLost(ex);
        }
        finally
        {
            _stream.Exit();
        }
    }

    /// <summary>Read under the gate: nothing may follow our close frame, or go out before the handshake's answer.</summary>
    private bool MayWrite => !_closing && Socket.State == WebSocketState.Open;

    public override Task CloseOutputAsync(WebSocketCloseStatus status, string reason)
    {
        // Before the framework writes the close frame, which takes the gate: a frame that takes it later is not written.
        _closing = true;
        return SendCloseFrameAsync(status, reason);
    }

    /// <summary>
    /// Writes the frames of what the outbox holds on the delivering thread, while the send loop waits: one frame is handed
    /// to the transport's direct send, several are gathered into one write. False, to wake the send loop, when another
    /// write holds the gate or the socket is closing.
    /// </summary>
    public bool TryWriteNow()
    {
        if (!_stream.TryBeginWrite()) return false;
        var release = true; // the gate, unless a write still under way holds it
        try
        {
            if (!MayWrite) return false;
            if (!Outbox.TryRead(out var message)) return true;
            var frame = WebSocketFrame.Of(message);
            CountSent(message);
            ValueTask write;
            if (frame.Length < MaxHeldBytes && Outbox.TryRead(out message))
            {
                // Several messages waiting: their frames are gathered into one write.
                _stream.Gather(frame);
                do
                {
                    _stream.Gather(WebSocketFrame.Of(message));
                    CountSent(message);
                }
                while (_stream.HeldBytes < MaxHeldBytes && Outbox.TryRead(out message));

                write = _stream.WriteGathered();
            }
            else
            {
                // One frame, the usual case of a light fan-out: the transport sends it with every other subscriber's.
                _handedFrame = frame;
                if (_stream.TrySendDirectly(frame, this))
                {
                    release = false; // OnSent finishes the write
                    return true;
                }

                _handedFrame = null;
                write = _stream.WriteUnderGate(frame);
            }

            release = CompletedNow(write);
            return true;
        }
        catch (Exception ex)
        {
            // Any fault ends this connection only: this runs on the thread delivering to every other subscriber.
            OnTransportLost(ex);
            return false;
        }
        finally
        {
            if (release) EndWrite();
        }
    }

    /// <summary>The transport's direct send of the handed frame has ended: what the socket did not take goes through Kestrel.</summary>
    public void OnSent(int sent)
    {
        var frame = _handedFrame!;
        _handedFrame = null;
        var release = true;
        try
        {
            if (sent < frame.Length) release = CompletedNow(_stream.WriteRemainder(frame, sent));
        }
        catch (Exception ex)
        {
            OnTransportLost(ex);
        }
        finally
        {
            if (release) EndWrite();
        }
    }

    /// <summary>True when a write completed at once; otherwise <see cref="FinishWriteAsync"/> ends it, holding the gate until then.</summary>
    private bool CompletedNow(ValueTask write)
    {
        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            return true;
        }

        _ = FinishWriteAsync(write);
        return false;
    }

    /// <summary>Waits for the part of a write that went through Kestrel, then releases the gate.</summary>
    private async Task FinishWriteAsync(ValueTask write)
    {
        try
        {
            await write.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            OnTransportLost(ex);
        }
        finally
        {
            EndWrite();
        }
    }

    /// <summary>Forgets what an in-place write gathered and releases the gate.</summary>
    private void EndWrite() => _stream.EndWrite();
}
