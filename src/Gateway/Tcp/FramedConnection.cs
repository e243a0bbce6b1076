using System.Buffers;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Protocols.Framing;
using Gateway.Protocols.Topics;
using Gateway.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Gateway.Tcp;

/// <summary>
/// One framed TCP or Unix socket peer: the inbound adapter (frames to published messages) and the outbound one
/// (outbox to frames) over its <see cref="ConnectionSession"/>. Two loops, as in Orleans' connections: the read loop
/// turns frames into published messages; the write loop drains the outbox into the pipe and flushes once per batch.
/// </summary>
/// <remarks>
/// The Node 'net' lifecycle maps onto it: connection = construction; data = the read loop; end (the peer's
/// FIN) = the read loop completes, then queued messages are flushed and the socket closed; timeout = the
/// session's idle check; error = a framing error or transport fault; close = <see cref="RunAsync"/> returns.
/// <para>A connection closed for bad input lingers (<see cref="LingerAsync"/>): the peer may still be sending, and a
/// socket closed with unread input ends with a reset, which can cost the peer the replies sent just before.</para>
/// </remarks>
internal sealed class FramedConnection : IConnectionControl
{
    // Above this many unflushed bytes the write loop flushes even though more messages are queued,
    // so one burst cannot hold an unbounded amount of memory in the pipe.
    private const long MaxUnflushedBytes = 64 * 1024;

    // Frames of one read published together; a read with more publishes in several runs of this many.
    private const int MaxFramesPerPublish = 64;

    // A lingering connection ends once its peer has sent nothing for this long (nginx's lingering_timeout): it has stopped,
    // and has had the replies. The endpoint's LingerTimeout bounds the whole (nginx's lingering_time).
    private static readonly TimeSpan s_lingerQuietTime = TimeSpan.FromSeconds(1);

    private readonly ConnectionContext _context;
    private readonly FramedEndpoint _endpoint;
    private readonly IMessageBus _bus;
    private readonly ILogger _logger;
    // The frames of one read, published together: the only frame of a read (a request and its answer, a reading now and
    // then) needs no array; a second rents one from the pool, returned once they are published. Idle, it holds none.
    private Message? _firstCollected;
    private Message[]? _collected;
    private int _collectedCount;
    // Input bytes already counted in BytesIn but left in the pipe, for the next read (a partial frame).
    private long _unconsumed;
    // Set when the read loop stops on bad input: the peer may still be sending, so the close lingers.
    private bool _closedForBadInput;
    // When the frame now incomplete in the pipe began to arrive (Environment.TickCount64); 0 while none is. Written by the
    // read loop, read by the heartbeat.
    private long _partialFrameSince;

    /// <exception cref="TopicException">A template renders an invalid topic for this connection.</exception>
    public FramedConnection(ConnectionContext context, FramedEndpoint endpoint, IMessageBus bus, ConnectionSessions sessions, ILogger logger)
    {
        _context = context;
        _endpoint = endpoint;
        _bus = bus;
        _logger = logger;
        var id = context.ConnectionId;
        var remote = endpoint.IsUnixSocket ? $"unix:{endpoint.Options.UnixSocketPath}" : context.RemoteEndPoint?.ToString() ?? "unknown";
        var identity = endpoint.Tls?.IdentityOf(context);
        var (publish, subscribe) = endpoint.Topics.Render(new TopicTemplateValues(endpoint.Name, id, remote, identity));
        Session = sessions.Create(
            new SessionStart(endpoint.Name, endpoint.Protocol, id, remote, identity, publish, subscribe, endpoint.Options.Outbox, endpoint.Options.IdleTimeout,
                RateLimits: endpoint.RateLimits),
            this, logger);
    }

    public ConnectionSession Session { get; }

    /// <summary>Runs the connection until it closes: opens the session, reads and writes, then ends the session.</summary>
    public async Task RunAsync()
    {
        var session = Session;
        session.Open();
        try
        {
            var lifetime = _context.Features.Get<IConnectionLifetimeNotificationFeature>();
            using var shutdown = lifetime?.ConnectionClosedRequested.Register(
                static state => ((FramedConnection)state!).Close(CloseReasons.ServerShutdown), this);

            var writing = WriteLoopAsync();
            await ReadLoopAsync().ConfigureAwait(false);

            // The read side is over: take no more messages, then let the write loop flush what is queued.
            session.StopDeliveries();
            try
            {
                await writing.WaitAsync(_endpoint.Options.DrainTimeout).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Abort(CloseReasons.DrainTimeout);
                await writing.ConfigureAwait(false);
                return;
            }

            if (_closedForBadInput && _endpoint.Options.LingerTimeout > TimeSpan.Zero)
                await LingerAsync(_endpoint.Options.LingerTimeout).ConfigureAwait(false);
        }
        finally
        {
            session.End();
        }
    }

    /// <summary>Graceful close: stop reading, flush the outbox, then close.</summary>
    public void Close(string reason)
    {
        if (Session.TrySetCloseReason(reason))
            _context.Transport.Input.CancelPendingRead();
    }

    /// <summary>
    /// About once a second: a frame that began to arrive more than FrameTimeout ago and is still incomplete closes the
    /// connection as bad input (slowloris: a peer that dribbles a frame, or leaves one hanging, to hold its connection).
    /// </summary>
    public void OnHeartbeat()
    {
        var since = Volatile.Read(ref _partialFrameSince);
        var timeout = _endpoint.Options.FrameTimeout;
        if (since == 0 || timeout <= TimeSpan.Zero || Environment.TickCount64 - since <= (long)timeout.TotalMilliseconds) return;
        if (!Session.TrySetCloseReason($"frame timeout: a frame begun {(Environment.TickCount64 - since) / 1000} s ago is still incomplete ({_unconsumed} bytes)"))
            return;
        _closedForBadInput = true;
        _endpoint.OnFrameTimeout();
        if (_endpoint.FramingErrorLog.Allow())
            TcpLog.FramingError(_logger, Session.Id, Session.Endpoint, Session.RemoteAddress, $"a frame is still incomplete after FrameTimeout ({timeout})");
        _context.Transport.Input.CancelPendingRead();
    }

    public void Abort(string reason)
    {
        Session.TrySetCloseReason(reason);
        _context.Abort(new ConnectionAbortedException(reason));
    }

    private async Task ReadLoopAsync()
    {
        var session = Session;
        var input = _context.Transport.Input;
        var codec = _endpoint.Codec;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                session.Traffic.BytesIn += buffer.Length - _unconsumed;
                var paused = false;
                try
                {
                    if (result.IsCanceled) return;

                    // One batch per read: subscribers' writers wake once, at its end, and flush once.
                    using (DeliveryBatch.Begin())
                    {
                        var receivedAt = DateTimeOffset.UtcNow;
                        try
                        {
                            while (true)
                            {
                                var beforeFrame = buffer;
                                if (!codec.TryReadFrame(ref buffer, out var frame)) break;
                                if (session.AdmitMessage((int)frame.Length) is not { } breach)
                                {
                                    Collect(frame, receivedAt);
                                    continue;
                                }

                                if (breach == RateLimitBreach.Pause)
                                {
                                    // The frame stays in the pipe, read again once the budget refills; meanwhile the pipe
                                    // fills, the transport stops reading, and TCP's own flow control slows the peer down.
                                    buffer = beforeFrame;
                                    paused = true;
                                    break;
                                }

                                session.Traffic.FramesIn++;
                                if (breach == RateLimitBreach.Disconnect)
                                {
                                    session.TrySetCloseReason($"rate limit: faster than {session.RateLimitSetting} allows");
                                    _closedForBadInput = true;
                                    return;
                                }
                            }
                        }
                        finally
                        {
                            // Frames read before a framing error are still published.
                            PublishCollected();
                        }
                    }

                    if (result.IsCompleted && !paused)
                    {
                        session.TrySetCloseReason(buffer.IsEmpty
                            ? CloseReasons.PeerClosed
                            : $"peer closed in the middle of a frame, {buffer.Length} bytes unread");
                        return;
                    }
                }
                finally
                {
                    // A frame begun and not finished starts the frame timeout's clock; one that completes stops it.
                    if (buffer.IsEmpty || paused) Volatile.Write(ref _partialFrameSince, 0);
                    else if (Volatile.Read(ref _partialFrameSince) == 0) Volatile.Write(ref _partialFrameSince, Environment.TickCount64);
                    _unconsumed = buffer.Length;
                    // Mark everything examined, so an incomplete frame waits for more bytes instead of spinning; a paused
                    // connection's next read must return the frames it left, so they are not.
                    if (paused) input.AdvanceTo(buffer.Start);
                    else input.AdvanceTo(buffer.Start, buffer.End);
                }

                session.Touch();
                if (paused) await session.WaitForRateLimitAsync().ConfigureAwait(false);
            }
        }
        catch (FramingException ex)
        {
            // The close line names the problem too: it is written for every connection, this line only while not throttled.
            session.TrySetCloseReason($"{CloseReasons.FramingError}: {ex.Message}");
            _closedForBadInput = true;
            _endpoint.OnFramingError();
            if (_endpoint.FramingErrorLog.Allow())
                TcpLog.FramingError(_logger, session.Id, session.Endpoint, session.RemoteAddress, ex.Message);
        }
        catch (ConnectionResetException)
        {
            session.TrySetCloseReason(CloseReasons.Reset);
        }
        catch (ConnectionAbortedException)
        {
            session.TrySetCloseReason(CloseReasons.Aborted);
        }
        catch (IOException ex)
        {
            session.TrySetCloseReason(CloseReasons.TransportError);
            TcpLog.ConnectionFault(_logger, session.Id, session.Endpoint, ex);
        }
    }

    /// <summary>
    /// nginx's lingering close, once the replies owed are flushed: the sending side is shut down after them (where the
    /// transport can, <see cref="IHalfCloseFeature"/>), then what the peer still sends is read and discarded until its
    /// FIN, until it pauses for <see cref="s_lingerQuietTime"/>, or until <paramref name="timeout"/>. The socket is then
    /// closed with nothing unread, so the peer's kernel keeps the replies instead of answering a reset.
    /// </summary>
    /// <remarks>
    /// Kestrel's socket transport cannot shut down one side: there the FIN follows the lingering, when the handler
    /// returns. The replies still arrive first; the peer only learns of the close later.
    /// </remarks>
    private async Task LingerAsync(TimeSpan timeout)
    {
        var session = Session;
        var input = _context.Transport.Input;
        var deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        using var quiet = new CancellationTokenSource();
        try
        {
            if (_context.Features.Get<IHalfCloseFeature>() is { } halfClose)
                await halfClose.CloseOutputAsync().ConfigureAwait(false);

            while (true)
            {
                var left = deadline - Environment.TickCount64;
                if (left <= 0) return;
                quiet.CancelAfter(TimeSpan.FromMilliseconds(Math.Min(left, s_lingerQuietTime.TotalMilliseconds)));
                var result = await input.ReadAsync(quiet.Token).ConfigureAwait(false);
                session.Traffic.BytesIn += result.Buffer.Length - _unconsumed;
                _unconsumed = 0;
                input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted || result.IsCanceled || !quiet.TryReset()) return;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ConnectionAbortedException or ConnectionResetException
                                       or InvalidOperationException)
        {
            // The peer paused or went away, the connection was aborted, or TLS could not read what it sent: nothing
            // more to wait for.
        }
    }

    private void Collect(in ReadOnlySequence<byte> frame, DateTimeOffset receivedAt)
    {
        var session = Session;
        session.Traffic.FramesIn++;
        if (session.PublishTopic is not { } topic) return;
        if (!session.PublishPermitted)
        {
            session.Access.OnPublishDenied(topic);
            return;
        }

        // The one copy out of the pipe: the slice is invalid after AdvanceTo, the message outlives it.
        var payload = frame.IsEmpty ? [] : frame.ToArray();
        var message = new Message(topic, payload, session.Source, receivedAt);
        if (_collectedCount == 0)
        {
            _firstCollected = message;
        }
        else
        {
            if (_collected is null)
            {
                _collected = ArrayPool<Message>.Shared.Rent(MaxFramesPerPublish);
                _collected[0] = _firstCollected!;
            }

            _collected[_collectedCount] = message;
        }

        if (++_collectedCount == MaxFramesPerPublish) PublishCollected();
    }

    /// <summary>Publishes the frames of one read together: one subscription lookup, one hand-over per subscriber.</summary>
    private void PublishCollected()
    {
        var count = _collectedCount;
        if (count == 0) return;
        var first = _firstCollected!;
        var array = _collected;
        _firstCollected = null;
        _collected = null;
        _collectedCount = 0;
        if (array is null)
        {
            _bus.Publish(first);
            return;
        }

        var collected = array.AsSpan(0, count);
        try
        {
            _bus.Publish(collected);
        }
        finally
        {
            collected.Clear();
            ArrayPool<Message>.Shared.Return(array);
        }
    }

    private async Task WriteLoopAsync()
    {
        var session = Session;
        var output = _context.Transport.Output;
        var frames = new BlockWriter(output);
        var outbox = session.Outbox!;
        var codec = _endpoint.Codec;
        try
        {
            while (await outbox.WaitToReadAsync().ConfigureAwait(false))
            {
                long written = 0;
                while (outbox.TryRead(out var message))
                {
                    written += WriteFrame(codec, message, frames);
                    if (written >= MaxUnflushedBytes) break;
                }

                frames.Commit();
                session.Traffic.BytesOut += written;
                var flush = await output.FlushAsync().ConfigureAwait(false);
                session.Touch();
                if (flush.IsCompleted || flush.IsCanceled) break;
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or ConnectionResetException or InvalidOperationException)
        {
            // The peer went away while we wrote; the read loop sees the same failure and names the reason.
            TcpLog.ConnectionFault(_logger, session.Id, session.Endpoint, ex);
            Abort(CloseReasons.TransportError);
        }
    }

    private int WriteFrame(IFrameCodec codec, Message message, BlockWriter output)
    {
        int written;
        try
        {
            written = codec.WriteFrame(message.Payload.Span, output);
        }
        catch (FramingException ex)
        {
            // A message this endpoint's framing cannot carry (too large, wrong fixed size) is dropped for
            // this peer alone; the connection stays up.
            TcpLog.OutboundFrameDropped(_logger, message.Topic, Session.Id, Session.Endpoint, ex.Message);
            Session.Outbox!.Counters.OnDropped(DeliveryOutcome.DroppedUnframeable);
            return 0;
        }

        Session.Traffic.FramesOut++;
        return written;
    }
}
