using System.Buffers;
using System.Net.WebSockets;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Http;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Security;
using Gateway.Tcp.Epoll;

namespace Gateway.WebSockets;

/// <summary>
/// One WebSocket peer. The receive loop publishes what the client sends (raw mode) or runs its envelope
/// commands; the send loop drains the outbox. Sends from both loops are serialised by one lock, as a
/// WebSocket allows one send at a time. A raw-mode socket with direct sends has its frames written on the
/// delivering thread while its send loop waits (<see cref="IOutboxWriter"/>), so a light fan-out costs one entry
/// per subscriber in one io_uring submission (<see cref="SendRing"/>; one <c>send</c> each without io_uring) and no
/// wake-up of 1,000 send loops.
/// </summary>
/// <remarks>
/// Close codes: 1000 after the client's close or an admin's disconnect; 1001 when the server shuts down;
/// 1008 for a message in raw mode without a publish topic or to a topic the identity may not publish to, or an
/// outbox overflow under the disconnect policy;
/// 1009 for a message over the size limit.
/// </remarks>
internal sealed class WebSocketConnection : IGatewayConnection, IOutboxWriter, IQueuedSendCompletion
{
    // How long a closing socket may take to send what is queued, and then the client to answer our close frame,
    // before the socket is aborted.
    private static readonly TimeSpan s_closeHandshakeTimeout = TimeSpan.FromSeconds(5);

    // Past this many gathered bytes the send loop writes them out before taking more messages.
    private const int MaxHeldBytes = 64 * 1024;

    private readonly WebSocket _socket;
    private readonly CoalescingStream? _transport;
    private readonly IMessageBus _bus;
    private readonly WebSocketEndpointOptions _options;
    private readonly ILogger _logger;
    private readonly string? _publishTopic;
    private readonly PeerAccess _access;
    // Raw mode's topic is fixed at connect, so it is checked once.
    private readonly bool _publishPermitted;
    private readonly Outbox _outbox;
    private readonly MessageSource _source;
    private readonly Dictionary<string, IDisposable> _subscriptions = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private string? _closeReason;
    private int _closeSent;
    private Task _sending = Task.CompletedTask;
    private byte[]? _queuedFrame; // a frame queued on a SendRing, with both locks held until it has been sent

    /// <param name="transport">The stream under <paramref name="socket"/>, to gather a batch of messages into one write; null sends each alone.</param>
    public WebSocketConnection(HttpContext context, WebSocket socket, CoalescingStream? transport, bool envelope, string? publishTopic,
        IMessageBus bus, PermissionPolicy permissions, WebSocketEndpointOptions options, ILogger logger)
    {
        _socket = socket;
        _transport = transport;
        _bus = bus;
        _options = options;
        _logger = logger;
        IsEnvelope = envelope;
        _publishTopic = publishTopic;
        Id = "ws-" + context.TraceIdentifier;
        Endpoint = HttpHost.WebSocketEndpointOf(context.Request);
        RemoteAddress = $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}";
        Identity = HttpCaller.Of(context).Identity;
        _access = permissions.ForPeer(Identity, Endpoint, Id, logger);
        _publishPermitted = publishTopic is null || _access.MayPublish(publishTopic);
        _source = new MessageSource(Endpoint, Id, RemoteAddress);
        _outbox = new Outbox(options.Outbox, bus.Counters.ForEndpoint(Endpoint), () => _ = CloseAsync(WebSocketCloseStatus.PolicyViolation, "outbox overflow"));
        if (!envelope && transport is { SendsDirectly: true }) _outbox.WriteInPlaceOfWaking(this);
    }

    public string Id { get; }

    /// <summary>"ws", or "wss" on the HTTPS port.</summary>
    public string Endpoint { get; }

    public string Protocol => Endpoint;

    public string RemoteAddress { get; }

    /// <summary>The caller's certificate or API key identity; null when anonymous.</summary>
    public string? Identity { get; }

    private string IdentityName => Identity ?? PermissionPolicy.Anonymous;

    public DateTimeOffset ConnectedAt { get; } = DateTimeOffset.UtcNow;

    public ConnectionTraffic Traffic { get; } = new();

    public bool IsEnvelope { get; }

    /// <summary>True when frames go to the socket with one <c>send</c> on the writer's thread (plaintext, epoll transport).</summary>
    public bool SendsDirectly => _transport?.SendsDirectly == true;

    public string CloseReason => Volatile.Read(ref _closeReason) ?? "unknown";

    /// <summary>Subscribes the filters given at connect time (raw mode's ?subscribe=) and starts sending.</summary>
    public void Open(IEnumerable<TopicFilter> filters)
    {
        foreach (var filter in filters)
            Subscribe(filter);
        _sending = SendLoopAsync();
    }

    /// <summary>Runs the connection until it closes; <see cref="Open"/> must have been called.</summary>
    public async Task RunAsync()
    {
        await ReceiveLoopAsync().ConfigureAwait(false);

        foreach (var subscription in _subscriptions.Values)
            subscription.Dispose();
        _subscriptions.Clear();
        _outbox.Complete();
        await _sending.ConfigureAwait(false);

        // The client closed first: answer its close frame to finish the handshake.
        if (_socket.State == WebSocketState.CloseReceived)
            await CloseAsync(WebSocketCloseStatus.NormalClosure, "").ConfigureAwait(false);
    }

    /// <summary>Server-initiated close (an admin's disconnect): sends what is queued, then the close frame.</summary>
    public void Close(string reason) => CloseGracefully(WebSocketCloseStatus.NormalClosure, reason);

    /// <summary>Closes as <see cref="Close"/> does, with 1001: the server is going away.</summary>
    public void OnServerStopping() => CloseGracefully(WebSocketCloseStatus.EndpointUnavailable, CloseReasons.ServerShutdown);

    public void OnHeartbeat(long nowMilliseconds)
    {
    }

    /// <summary>
    /// Takes no more deliveries, sends what the outbox already holds, then the close frame; the receive loop ends
    /// when the client answers. Messages accepted before the close are not lost to it.
    /// </summary>
    private void CloseGracefully(WebSocketCloseStatus status, string reason)
    {
        Interlocked.CompareExchange(ref _closeReason, reason, null);
        _outbox.Complete();
        _ = CloseAfterSendingAsync(status, reason);
    }

    private async Task CloseAfterSendingAsync(WebSocketCloseStatus status, string reason)
    {
        try
        {
            await _sending.WaitAsync(s_closeHandshakeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The client stopped reading: what is queued cannot go out, and neither can the close frame.
            _socket.Abort();
            return;
        }

        await CloseAsync(status, reason).ConfigureAwait(false);
    }

    private async Task CloseAsync(WebSocketCloseStatus status, string reason)
    {
        if (Interlocked.Exchange(ref _closeSent, 1) != 0) return;
        if (reason.Length > 0) Interlocked.CompareExchange(ref _closeReason, reason, null);
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                await _socket.CloseOutputAsync(status, reason, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            WebSocketLog.Fault(_logger, Id, ex);
        }
        finally
        {
            _sendLock.Release();
        }

        // A client that never answers the close frame must not hold the connection open.
        _ = Task.Delay(s_closeHandshakeTimeout).ContinueWith(static (_, state) =>
        {
            var socket = (WebSocket)state!;
            if (socket.State != WebSocketState.Closed) socket.Abort();
        }, _socket, TaskScheduler.Default);
    }

    private async Task ReceiveLoopAsync()
    {
        var message = new ArrayBufferWriter<byte>(4096);
        // While messages are already buffered, the receives complete at once and their publications form one
        // delivery batch: subscribers' writers wake once, at its end, with all of them queued. The batch ends
        // before any wait, as a batch must not span one.
        var batch = new OpenBatch();
        try
        {
            while (true)
            {
                var receiving = _socket.ReceiveAsync(message.GetMemory(4096), CancellationToken.None);
                if (!receiving.IsCompleted) batch.End();
                var result = await receiving.ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    Interlocked.CompareExchange(ref _closeReason, $"client closed ({(int?)_socket.CloseStatus} {_socket.CloseStatusDescription})".TrimEnd(), null);
                    return;
                }

                message.Advance(result.Count);
                if (message.WrittenCount > _options.MaxMessageBytes)
                {
                    batch.End();
                    await CloseAsync(WebSocketCloseStatus.MessageTooBig,
                        $"message over Gateway:Http:WebSocket:MaxMessageBytes ({_options.MaxMessageBytes} bytes)").ConfigureAwait(false);
                    await DiscardUntilCloseAsync().ConfigureAwait(false);
                    return;
                }

                if (!result.EndOfMessage) continue;

                Traffic.FramesIn++;
                Traffic.BytesIn += message.WrittenCount;
                batch.Begin();
                var handling = HandleAsync(result.MessageType, message.WrittenMemory);
                if (!handling.IsCompleted) batch.End();
                await handling.ConfigureAwait(false);
                message.ResetWrittenCount();

                // Once our close frame is out (a policy close, an admin's disconnect), nothing more is handled.
                if (Volatile.Read(ref _closeSent) != 0)
                {
                    batch.End();
                    await DiscardUntilCloseAsync().ConfigureAwait(false);
                    return;
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
        {
            Interlocked.CompareExchange(ref _closeReason, "connection lost", null);
            WebSocketLog.Fault(_logger, Id, ex);
        }
        finally
        {
            batch.End();
        }
    }

    /// <summary>The receive loop's delivery batch, open across messages that arrive together.</summary>
    private struct OpenBatch
    {
        private DeliveryBatch.Scope? _scope;

        public void Begin() => _scope ??= DeliveryBatch.Begin();

        public void End()
        {
            _scope?.Dispose();
            _scope = null;
        }
    }

    /// <summary>After our close frame, reads (and drops) until the client's close frame arrives.</summary>
    private async Task DiscardUntilCloseAsync()
    {
        var scratch = new byte[4096];
        while (_socket.State is WebSocketState.CloseSent or WebSocketState.Open)
        {
            var result = await _socket.ReceiveAsync(scratch.AsMemory(), CancellationToken.None).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close) return;
        }
    }

    private Task HandleAsync(WebSocketMessageType type, ReadOnlyMemory<byte> payload)
    {
        if (IsEnvelope) return HandleCommandAsync(type, payload);

        if (_publishTopic is null)
            return CloseAsync(WebSocketCloseStatus.PolicyViolation, "this socket has no publish topic (connect with ?publish=topic)");
        if (!_publishPermitted)
        {
            _access.OnPublishDenied(_publishTopic);
            return CloseAsync(WebSocketCloseStatus.PolicyViolation, $"{IdentityName} may not publish to '{_publishTopic}'");
        }

        var contentType = type == WebSocketMessageType.Text ? MessagePayload.TextContentType : MessagePayload.BinaryContentType;
        _bus.Publish(new Message(_publishTopic, payload.ToArray(), _source, DateTimeOffset.UtcNow, contentType));
        return Task.CompletedTask;
    }

    private Task HandleCommandAsync(WebSocketMessageType type, ReadOnlyMemory<byte> payload)
    {
        if (type != WebSocketMessageType.Text)
            return SendErrorAsync(null, "Envelope commands are JSON text messages.");
        if (!EnvelopeProtocol.TryParse(payload.Span, out var command, out var id, out var error))
            return SendErrorAsync(id, error!);

        switch (command.Op)
        {
            case "subscribe":
                if (!TopicFilter.TryParse(command.Filter, out var filter, out var filterError))
                    return SendErrorAsync(id, filterError);
                if (!_access.MaySubscribe(filter))
                    return SendErrorAsync(id, $"{IdentityName} may not subscribe to '{filter}'.", EnvelopeProtocol.ForbiddenCode);
                Subscribe(filter);
                return SendAckAsync(id);
            case "unsubscribe":
                if (command.Filter is null || !_subscriptions.Remove(command.Filter, out var subscription))
                    return SendErrorAsync(id, $"Not subscribed to '{command.Filter}'.");
                subscription.Dispose();
                return SendAckAsync(id);
            case "publish":
                if (command.Topic is null)
                    return SendErrorAsync(id, "A publish needs a \"topic\".");
                if (!Topic.IsValid(command.Topic, out var topicError))
                    return SendErrorAsync(id, topicError);
                if (command.Payload is null)
                    return SendErrorAsync(id, "A publish needs \"text\" or \"base64\".");
                if (!_access.MayPublish(command.Topic))
                {
                    _access.OnPublishDenied(command.Topic);
                    return SendErrorAsync(id, $"{IdentityName} may not publish to '{command.Topic}'.", EnvelopeProtocol.ForbiddenCode);
                }

                _bus.Publish(new Message(command.Topic, command.Payload, _source, DateTimeOffset.UtcNow, command.ContentType));
                return SendAckAsync(id);
            default:
                return SendErrorAsync(id, $"Unknown op '{command.Op}': use subscribe, unsubscribe or publish.");
        }
    }

    private void Subscribe(TopicFilter filter)
    {
        if (!_subscriptions.ContainsKey(filter.Value))
            _subscriptions.Add(filter.Value, _bus.Subscribe(filter, _outbox));
    }

    private Task SendAckAsync(string? id)
    {
        var json = new ArrayBufferWriter<byte>(64);
        EnvelopeProtocol.WriteAck(id, json);
        return SendAsync(json.WrittenMemory, WebSocketMessageType.Text);
    }

    private Task SendErrorAsync(string? id, string error, string code = EnvelopeProtocol.InvalidCode)
    {
        var json = new ArrayBufferWriter<byte>(128);
        EnvelopeProtocol.WriteError(id, code, error, json);
        return SendAsync(json.WrittenMemory, WebSocketMessageType.Text);
    }

    private async Task SendLoopAsync()
    {
        var envelope = new ArrayBufferWriter<byte>(1024);
        while (await _outbox.WaitToReadAsync().ConfigureAwait(false))
        {
            // Several messages waiting (a burst, or a subscriber that fell behind): one write for all of them.
            var transport = _outbox.Count > 1 ? _transport : null;
            transport?.Hold();
            var open = await SendQueuedAsync(envelope, transport).ConfigureAwait(false);
            // Released whatever happened: a close frame sent meanwhile may be among the gathered bytes.
            if (transport is not null) open = await ReleaseAsync(transport).ConfigureAwait(false) && open;
            if (!open) return;
        }
    }

    /// <summary>Sends what the outbox holds, up to <see cref="MaxHeldBytes"/> gathered; false once the socket can no longer send.</summary>
    private async Task<bool> SendQueuedAsync(ArrayBufferWriter<byte> envelope, CoalescingStream? holding)
    {
        while ((holding is null || holding.HeldBytes < MaxHeldBytes) && _outbox.TryRead(out var message))
        {
            bool sent;
            if (IsEnvelope)
            {
                envelope.ResetWrittenCount();
                EnvelopeProtocol.WriteMessage(message, envelope);
                sent = await SendAsync(envelope.WrittenMemory, WebSocketMessageType.Text).ConfigureAwait(false);
            }
            else if (_transport is not null)
            {
                sent = await SendFrameAsync(WebSocketFrame.Of(message), _transport).ConfigureAwait(false);
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

    /// <summary>
    /// Writes the frames of what the outbox holds on the delivering thread, while the send loop waits: with direct
    /// sends that is one <c>send</c> (or, inside a fan-out, one entry of its <see cref="SendRing"/>), and no wake-up
    /// of the loop. The loop is woken instead when another write is under way, the socket is no longer open, or what
    /// the socket did not take is still going through Kestrel.
    /// </summary>
    OutboxWrite IOutboxWriter.TryWriteNow()
    {
        var transport = _transport!;
        if (!_sendLock.Wait(0)) return OutboxWrite.WakeReader;
        if (!transport.TryBeginWrite())
        {
            _sendLock.Release();
            return OutboxWrite.WakeReader;
        }

        var release = true; // the locks, unless a write still under way holds them
        try
        {
            // Nothing may follow our close frame, or go out before the handshake's answer.
            if (_socket.State != WebSocketState.Open) return OutboxWrite.WakeReader;
            if (!_outbox.TryRead(out var message)) return OutboxWrite.Written;
            var frame = WebSocketFrame.Of(message);
            CountSent(message);
            ValueTask write;
            if (frame.Length < MaxHeldBytes && _outbox.TryRead(out message))
            {
                // Several messages waiting: their frames are gathered into one write.
                transport.Gather(frame);
                do
                {
                    transport.Gather(WebSocketFrame.Of(message));
                    CountSent(message);
                }
                while (transport.HeldBytes < MaxHeldBytes && _outbox.TryRead(out message));

                write = transport.WriteGathered();
            }
            else
            {
                // One frame, the usual case of a light fan-out, goes to the kernel with every other subscriber's.
                if (SendRing.Current is { } ring)
                {
                    _queuedFrame = frame;
                    release = !transport.TryQueueWrite(ring, frame, this);
                    if (!release) return OutboxWrite.Pending;
                    _queuedFrame = null;
                }

                write = transport.WriteUnderGate(frame);
            }

            if (CompletedNow(write, transport, pendingInOutbox: false)) return OutboxWrite.Written;
            // The send loop goes on now; its next write waits for the locks, which this write holds until it completes.
            release = false;
            return OutboxWrite.WakeReader;
        }
        catch (Exception ex)
        {
            // Any fault ends this connection only: this runs on the thread delivering to every other subscriber.
            OnTransportLost(ex);
            return OutboxWrite.WakeReader;
        }
        finally
        {
            if (release)
            {
                transport.EndWrite();
                _sendLock.Release();
            }
        }
    }

    void IOutboxWriter.Prefetch(int depth)
    {
        if (depth == 0)
        {
            PrefetchWriteState();
            CacheHint.Prefetch(_socket);
            _outbox.Prefetch();
        }
        else
        {
            _transport?.Prefetch();
        }
    }

    void IQueuedSendCompletion.Prefetch(int depth)
    {
        if (depth == 0) PrefetchWriteState();
    }

    /// <summary>What both the in-place write and its completion read: the locks' holders and the outbox.</summary>
    private void PrefetchWriteState()
    {
        CacheHint.Prefetch(_sendLock);
        CacheHint.Prefetch(_transport);
        CacheHint.Prefetch(_outbox);
    }

    /// <summary>A queued frame's send has completed: what the socket did not take goes through Kestrel, then the outbox is told.</summary>
    void IQueuedSendCompletion.OnSent(int sent)
    {
        var transport = _transport!;
        var frame = _queuedFrame!;
        _queuedFrame = null;
        var outcome = OutboxWrite.WakeReader;
        try
        {
            if (sent == frame.Length)
            {
                outcome = OutboxWrite.Written;
                return;
            }

            outcome = CompletedNow(transport.WriteRemainder(frame, sent), transport, pendingInOutbox: true)
                ? OutboxWrite.Written
                : OutboxWrite.Pending;
        }
        catch (Exception ex)
        {
            OnTransportLost(ex);
        }
        finally
        {
            if (outcome != OutboxWrite.Pending)
            {
                transport.EndWrite();
                _sendLock.Release();
                _outbox.EndPendingWrite(outcome);
            }
        }
    }

    /// <summary>
    /// True when an in-place write completed at once; otherwise its completion is left to <see cref="FinishWriteAsync"/>,
    /// which holds the locks until then.
    /// </summary>
    private bool CompletedNow(ValueTask write, CoalescingStream transport, bool pendingInOutbox)
    {
        if (write.IsCompletedSuccessfully)
        {
            write.GetAwaiter().GetResult();
            return true;
        }

        _ = FinishWriteAsync(write, transport, pendingInOutbox);
        return false;
    }

    private void CountSent(Message message)
    {
        Traffic.FramesOut++;
        Traffic.BytesOut += message.Payload.Length;
    }

    /// <summary>
    /// Waits for the part of an in-place write that went through Kestrel, holding the locks until it is written; then
    /// wakes the send loop if the outbox still counts the write as pending.
    /// </summary>
    private async Task FinishWriteAsync(ValueTask write, CoalescingStream transport, bool pendingInOutbox)
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
            transport.EndWrite();
            _sendLock.Release();
            if (pendingInOutbox) _outbox.EndPendingWrite(OutboxWrite.WakeReader);
        }
    }

    /// <summary>Writes the gathered frames; a failure ends the connection, as a failed send of the WebSocket would.</summary>
    private async Task<bool> ReleaseAsync(CoalescingStream transport)
    {
        try
        {
            await transport.ReleaseAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (IsTransportFault(ex))
        {
            return OnTransportLost(ex);
        }
    }

    private static bool IsTransportFault(Exception ex) =>
        ex is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException;

    /// <summary>A write to the transport failed: the connection ends, as a failed send of the WebSocket would end it.</summary>
    private bool OnTransportLost(Exception ex)
    {
        Interlocked.CompareExchange(ref _closeReason, "connection lost", null);
        WebSocketLog.Fault(_logger, Id, ex);
        _socket.Abort();
        return false;
    }

    /// <summary>
    /// Writes a frame encoded once for every subscriber straight to the transport, past the framework's WebSocket,
    /// which would frame the same payload again for each socket. The transport keeps each write whole, so the
    /// WebSocket's own frames (pongs, pings, the close) never cut into it. False once the socket can no longer send.
    /// </summary>
    private async Task<bool> SendFrameAsync(byte[] frame, CoalescingStream transport)
    {
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            // Nothing may follow our close frame, or go out before the handshake's answer.
            if (_socket.State != WebSocketState.Open) return false;
            await transport.WriteAsync(frame).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (IsTransportFault(ex))
        {
            return OnTransportLost(ex);
        }
        finally
        {
            _sendLock.Release();
        }
    }

    /// <summary>Sends one whole message; false once the socket can no longer send.</summary>
    private async Task<bool> SendAsync(ReadOnlyMemory<byte> payload, WebSocketMessageType type)
    {
        await _sendLock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_socket.State != WebSocketState.Open) return false;
            await _socket.SendAsync(payload, type, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException)
        {
            WebSocketLog.Fault(_logger, Id, ex);
            return false;
        }
        finally
        {
            _sendLock.Release();
        }
    }
}
