using System.Buffers;
using System.IO.Pipelines;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Protocols.Framing;
using Gateway.Protocols.Topics;
using Gateway.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Gateway.Tcp;

/// <summary>
/// One framed TCP or Unix socket peer. Two loops, as in Orleans' connections: the read loop turns frames
/// into published messages; the write loop drains the outbox into the pipe and flushes once per batch.
/// </summary>
/// <remarks>
/// The Node 'net' lifecycle maps onto it: connection = construction; data = the read loop; end (the peer's
/// FIN) = the read loop completes, then queued messages are flushed and the socket closed; timeout = the
/// heartbeat's idle check; error = a framing error or transport fault; close = <see cref="RunAsync"/> returns.
/// </remarks>
internal sealed class FramedConnection : IGatewayConnection
{
    // Above this many unflushed bytes the write loop flushes even though more messages are queued,
    // so one burst cannot hold an unbounded amount of memory in the pipe.
    private const long MaxUnflushedBytes = 64 * 1024;

    // Frames of one read published together; a read with more publishes in several runs of this many.
    private const int MaxFramesPerPublish = 64;

    private readonly ConnectionContext _context;
    private readonly FramedEndpoint _endpoint;
    private readonly IMessageBus _bus;
    private readonly ILogger _logger;
    private readonly Outbox _outbox;
    private readonly MessageSource _source;
    private readonly string? _publishTopic;
    private readonly PeerAccess _access;
    // Checked once: the topic is the same for every frame of the connection.
    private readonly bool _publishPermitted;
    private readonly TopicFilter[] _subscriptionFilters;
    private readonly long _idleTimeoutMilliseconds;
    private readonly Message[] _collected = new Message[MaxFramesPerPublish];
    private int _collectedCount;
    private IDisposable[] _subscriptions = [];
    private string? _closeReason;
    private long _lastActivity;

    public FramedConnection(ConnectionContext context, FramedEndpoint endpoint, IMessageBus bus, PermissionPolicy permissions, ILogger logger)
    {
        _context = context;
        _endpoint = endpoint;
        _bus = bus;
        _logger = logger;
        Id = context.ConnectionId;
        RemoteAddress = endpoint.IsUnixSocket
            ? $"unix:{endpoint.Options.UnixSocketPath}"
            : context.RemoteEndPoint?.ToString() ?? "unknown";
        ConnectedAt = DateTimeOffset.UtcNow;
        _source = new MessageSource(endpoint.Name, Id, RemoteAddress);
        _idleTimeoutMilliseconds = endpoint.Options.IdleTimeout is { } idle ? (long)idle.TotalMilliseconds : 0;

        Identity = endpoint.Tls?.IdentityOf(context);
        _access = permissions.ForPeer(Identity, endpoint.Name, Id, logger);

        // Templates are rendered once per connection, so the read loop publishes to a ready string.
        var values = new TopicTemplateValues(endpoint.Name, Id, RemoteAddress, Identity);
        _publishTopic = endpoint.PublishTemplate?.Render(values);
        _publishPermitted = _publishTopic is null || _access.MayPublish(_publishTopic);
        _subscriptionFilters = new TopicFilter[endpoint.SubscribeTemplates.Count];
        for (var i = 0; i < _subscriptionFilters.Length; i++)
            _subscriptionFilters[i] = endpoint.SubscribeTemplates[i].RenderFilter(values);

        _outbox = new Outbox(endpoint.Options.Outbox, bus.Counters.ForEndpoint(endpoint.Name), OnOutboxOverflow);
    }

    public string Id { get; }

    public string Endpoint => _endpoint.Name;

    public string Protocol => _endpoint.Protocol;

    public string RemoteAddress { get; }

    /// <summary>The client certificate's name on a TLS endpoint that asks for one; null otherwise.</summary>
    public string? Identity { get; }

    public DateTimeOffset ConnectedAt { get; }

    public ConnectionTraffic Traffic { get; } = new();

    public string CloseReason => Volatile.Read(ref _closeReason) ?? CloseReasons.Unknown;

    /// <summary>Subscribes the connection's outbox, so it receives from the moment it is listed as open.</summary>
    public void Open()
    {
        Touch();
        // A subscription the peer may not have is left out (and logged); the others work.
        _subscriptions = [.. _subscriptionFilters.Where(_access.MaySubscribe).Select(filter => _bus.Subscribe(filter, _outbox))];
    }

    /// <summary>Runs the connection until it closes; <see cref="Open"/> must have been called.</summary>
    public async Task RunAsync()
    {
        var lifetime = _context.Features.Get<IConnectionLifetimeNotificationFeature>();
        using var shutdown = lifetime?.ConnectionClosedRequested.Register(
            static state => ((FramedConnection)state!).Close(CloseReasons.ServerShutdown), this);

        var writing = WriteLoopAsync();
        await ReadLoopAsync().ConfigureAwait(false);

        // The read side is over: take no more messages, then let the write loop flush what is queued.
        foreach (var subscription in _subscriptions)
            subscription.Dispose();
        _outbox.Complete();
        try
        {
            await writing.WaitAsync(_endpoint.Options.DrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Abort(CloseReasons.DrainTimeout);
            await writing.ConfigureAwait(false);
        }
    }

    /// <summary>Graceful close: stop reading, flush the outbox, then close.</summary>
    public void Close(string reason)
    {
        if (TrySetCloseReason(reason))
            _context.Transport.Input.CancelPendingRead();
    }

    public void OnHeartbeat(long nowMilliseconds)
    {
        if (_idleTimeoutMilliseconds > 0 && nowMilliseconds - Volatile.Read(ref _lastActivity) > _idleTimeoutMilliseconds)
            Close(CloseReasons.IdleTimeout);
    }

    private async Task ReadLoopAsync()
    {
        var input = _context.Transport.Input;
        var codec = _endpoint.Codec;
        long unconsumed = 0;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                Traffic.BytesIn += buffer.Length - unconsumed;
                try
                {
                    if (result.IsCanceled) return;

                    // One batch per read: subscribers' writers wake once, at its end, and flush once.
                    using (DeliveryBatch.Begin())
                    {
                        var receivedAt = DateTimeOffset.UtcNow;
                        try
                        {
                            while (codec.TryReadFrame(ref buffer, out var frame))
                                Collect(frame, receivedAt);
                        }
                        finally
                        {
                            // Frames read before a framing error are still published.
                            PublishCollected();
                        }
                    }

                    if (result.IsCompleted)
                    {
                        TrySetCloseReason(buffer.IsEmpty
                            ? CloseReasons.PeerClosed
                            : $"peer closed in the middle of a frame, {buffer.Length} bytes unread");
                        return;
                    }
                }
                finally
                {
                    unconsumed = buffer.Length;
                    // Mark everything examined, so an incomplete frame waits for more bytes instead of spinning.
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                Touch();
            }
        }
        catch (FramingException ex)
        {
            TrySetCloseReason(CloseReasons.FramingError);
            _endpoint.OnFramingError();
            TcpLog.FramingError(_logger, Id, Endpoint, RemoteAddress, ex.Message);
        }
        catch (ConnectionResetException)
        {
            TrySetCloseReason(CloseReasons.Reset);
        }
        catch (ConnectionAbortedException)
        {
            TrySetCloseReason(CloseReasons.Aborted);
        }
        catch (IOException ex)
        {
            TrySetCloseReason(CloseReasons.TransportError);
            TcpLog.ConnectionFault(_logger, Id, Endpoint, ex);
        }
    }

    private void Collect(in ReadOnlySequence<byte> frame, DateTimeOffset receivedAt)
    {
        Traffic.FramesIn++;
        if (_publishTopic is null) return;
        if (!_publishPermitted)
        {
            _access.OnPublishDenied(_publishTopic);
            return;
        }

        // The one copy out of the pipe: the slice is invalid after AdvanceTo, the message outlives it.
        var payload = frame.IsEmpty ? [] : frame.ToArray();
        _collected[_collectedCount++] = new Message(_publishTopic, payload, _source, receivedAt);
        if (_collectedCount == _collected.Length) PublishCollected();
    }

    /// <summary>Publishes the frames of one read together: one subscription lookup, one hand-over per subscriber.</summary>
    private void PublishCollected()
    {
        if (_collectedCount == 0) return;
        var collected = _collected.AsSpan(0, _collectedCount);
        _bus.Publish(collected);
        collected.Clear();
        _collectedCount = 0;
    }

    private async Task WriteLoopAsync()
    {
        var output = _context.Transport.Output;
        var frames = new BlockWriter(output);
        var outbox = _outbox;
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
                Traffic.BytesOut += written;
                var flush = await output.FlushAsync().ConfigureAwait(false);
                Touch();
                if (flush.IsCompleted || flush.IsCanceled) break;
            }
        }
        catch (Exception ex) when (ex is IOException or ConnectionAbortedException or ConnectionResetException or InvalidOperationException)
        {
            // The peer went away while we wrote; the read loop sees the same failure and names the reason.
            TcpLog.ConnectionFault(_logger, Id, Endpoint, ex);
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
            TcpLog.OutboundFrameDropped(_logger, message.Topic, Id, Endpoint, ex.Message);
            _outbox.Counters.OnDropped(DeliveryOutcome.DroppedUnframeable);
            return 0;
        }

        Traffic.FramesOut++;
        return written;
    }

    private void OnOutboxOverflow() => Abort(CloseReasons.OutboxOverflow);

    private void Abort(string reason)
    {
        TrySetCloseReason(reason);
        _context.Abort(new ConnectionAbortedException(reason));
    }

    private bool TrySetCloseReason(string reason) => Interlocked.CompareExchange(ref _closeReason, reason, null) is null;

    private void Touch() => Volatile.Write(ref _lastActivity, Environment.TickCount64);
}
