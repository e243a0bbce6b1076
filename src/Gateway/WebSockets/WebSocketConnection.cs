using System.Buffers;
using System.Net.WebSockets;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Http;
using Gateway.Messaging;
using Gateway.Protocols.Topics;

namespace Gateway.WebSockets;

/// <summary>
/// One WebSocket peer: its session, and the receive loop that is its inbound adapter, publishing what the client sends
/// (raw mode) or running its envelope commands (<see cref="EnvelopeCommands"/>); the outbound adapter is its
/// <see cref="WebSocketSender"/>, chosen at connect. It also runs the close handshake.
/// </summary>
/// <remarks>
/// Close codes: 1000 after the client's close or an admin's disconnect; 1001 when the server shuts down;
/// 1002 for a frame against RFC 6455 and 1007 for a text message that is not UTF-8 (<see cref="FrameViolation"/>);
/// 1008 for a message in raw mode without a publish topic or to a topic the identity may not publish to, or an
/// outbox overflow under the disconnect policy;
/// 1009 for a message over the size limit, on the header of the frame that announces it.
/// <para>A client refused for what it sent gets the messages already queued for it, then the close frame; what it still
/// sends is read and dropped for a while (<see cref="CoalescingStream.DiscardInputAsync"/>), so that the close does not
/// become a reset that destroys them on their way.</para>
/// </remarks>
internal sealed class WebSocketConnection : IConnectionControl
{
    /// <summary>The close reason of a connection whose socket failed.</summary>
    public const string ConnectionLost = "connection lost";

    // How long a closing socket may take to send what is queued, and then the client to answer our close frame,
    // before the socket is aborted.
    private static readonly TimeSpan s_closeHandshakeTimeout = TimeSpan.FromSeconds(5);

    private readonly WebSocket _socket;
    private readonly IMessageBus _bus;
    private readonly WebSocketEndpointOptions _options;
    private readonly ILogger _logger;
    private readonly WebSocketSender _sender;
    private readonly EnvelopeCommands? _commands;
    private readonly CoalescingStream? _stream;
    private readonly WebSocketRefusals _refusals;
    private readonly MessageChunks _message = new();
    private int _closeSent;
    private Task _sending = Task.CompletedTask;

    /// <param name="stream">The stream under <paramref name="socket"/>; null where there is none (HTTP/2).</param>
    /// <param name="filters">What the socket subscribes to at connect (raw mode's ?subscribe=), its permissions checked.</param>
    public WebSocketConnection(HttpContext context, WebSocket socket, CoalescingStream? stream, bool envelope, string? publishTopic,
        IReadOnlyList<TopicFilter> filters, IMessageBus bus, ConnectionSessions sessions, WebSocketRefusals refusals, WebSocketRateLimits rateLimits,
        WebSocketEndpointOptions options, ILogger logger)
    {
        _socket = socket;
        _stream = stream;
        _refusals = refusals;
        _bus = bus;
        _options = options;
        _logger = logger;
        var endpoint = WebSocketEndpoint.EndpointOf(context.Request);
        Session = sessions.Create(
            new SessionStart(endpoint, endpoint, "ws-" + context.TraceIdentifier, $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}",
                HttpCaller.Of(context).Identity, publishTopic, filters, options.Outbox, options.IdleTimeout, RateLimits: rateLimits.For(endpoint)),
            this, logger);
        _sender = WebSocketSender.Create(socket, stream, envelope, Session, logger);
        // Envelope mode always sends through the framework's WebSocket, which its acknowledgements share.
        if (envelope) _commands = new EnvelopeCommands(Session, bus, (FrameworkSender)_sender);
        // Before the first receive: from then on every frame's header is checked before its payload is read.
        stream?.GuardReads(new ClientFrameGuard(options.MaxMessageBytes), RefuseAsync);
    }

    public ConnectionSession Session { get; }

    /// <summary>True on the fast path: frames encoded once for every subscriber, handed to the transport's direct send.</summary>
    public bool SendsDirectly => _sender is EncodedFrameSender;

    /// <summary>Runs the connection until it closes: opens the session, receives and sends, then ends the session.</summary>
    public async Task RunAsync()
    {
        // Sending first, so a close asked for as soon as the session is listed waits for the send loop it must drain.
        _sending = _sender.RunAsync();
        Session.Open();
        try
        {
            await ReceiveLoopAsync().ConfigureAwait(false);

            Session.StopDeliveries();
            await _sending.ConfigureAwait(false);

            // The client closed first: answer its close frame to finish the handshake.
            if (_socket.State == WebSocketState.CloseReceived)
                await CloseAsync(WebSocketCloseStatus.NormalClosure, "").ConfigureAwait(false);
        }
        finally
        {
            Session.End();
        }
    }

    /// <summary>Server-initiated close (an admin's disconnect, the idle timeout): sends what is queued, then the close frame.</summary>
    public void Close(string reason) => CloseGracefully(WebSocketCloseStatus.NormalClosure, reason);

    /// <summary>The outbox overflowed: the close frame (1008) goes after the message being sent, whatever is queued.</summary>
    public void Abort(string reason) => _ = CloseAsync(WebSocketCloseStatus.PolicyViolation, reason);

    /// <summary>Closes as <see cref="Close"/> does, with 1001: the server is going away.</summary>
    public void OnServerStopping() => CloseGracefully(WebSocketCloseStatus.EndpointUnavailable, CloseReasons.ServerShutdown);

    /// <summary>
    /// Takes no more deliveries, sends what the outbox already holds, then the close frame; the receive loop ends
    /// when the client answers. Messages accepted before the close are not lost to it.
    /// </summary>
    private void CloseGracefully(WebSocketCloseStatus status, string reason) => _ = CloseAfterSendingAsync(status, reason, reason);

    /// <summary>
    /// The client sent a frame that <see cref="ClientFrameGuard"/> refused, before the WebSocket read it: counted and logged,
    /// then closed as <see cref="CloseGracefully"/> does, with the violation's close code. Completes once the close frame
    /// is written; the stream then discards what the client still sends.
    /// </summary>
    private Task RefuseAsync(FrameViolation violation)
    {
        _refusals.Record(Session, violation);
        // Called from the receive under way, the one user of the message: what the refused message holds goes back now.
        _message.Abandon();
        return CloseAfterSendingAsync(violation.Status, violation.CloseDescription, violation.CloseReason);
    }

    /// <summary>
    /// The framework's WebSocket failed the client for a frame the guard does not check (invalid UTF-8), and sent the close
    /// frame itself: counted and logged; what the client still sends is discarded before the connection closes.
    /// </summary>
    private async Task OnRefusedByFrameworkAsync(FrameViolation violation)
    {
        Session.TrySetCloseReason(violation.CloseReason);
        _refusals.Record(Session, violation);
        if (_stream is not null) await _stream.DiscardInputAsync().ConfigureAwait(false);
    }

    /// <param name="closeReason">The session's close reason, for the close line.</param>
    private async Task CloseAfterSendingAsync(WebSocketCloseStatus status, string reason, string closeReason)
    {
        Session.TrySetCloseReason(closeReason);
        Session.Outbox!.Complete();
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
        if (reason.Length > 0) Session.TrySetCloseReason(reason);
        await _sender.CloseOutputAsync(status, reason).ConfigureAwait(false);

        // A client that never answers the close frame must not hold the connection open.
        _ = Task.Delay(s_closeHandshakeTimeout).ContinueWith(static (_, state) =>
        {
            var socket = (WebSocket)state!;
            if (socket.State != WebSocketState.Closed) socket.Abort();
        }, _socket, TaskScheduler.Default);
    }

    private async Task ReceiveLoopAsync()
    {
        var message = _message;
        // While messages are already buffered, the receives complete at once and their publications form one
        // delivery batch: subscribers' writers wake once, at its end, with all of them queued. The batch ends
        // before any wait, as a batch must not span one.
        var batch = new OpenBatch();
        // Between messages the receive only waits for the next frame's header, into no buffer of ours (a zero-byte
        // receive), and the buffer goes back to the pool if it must wait: an idle socket holds none.
        var betweenMessages = true;
        try
        {
            while (true)
            {
                var receiving = _socket.ReceiveAsync(betweenMessages ? Memory<byte>.Empty : ReceiveBuffer(message), CancellationToken.None);
                if (!receiving.IsCompleted)
                {
                    batch.End();
                    if (betweenMessages) message.Release();
                }

                var result = await receiving.ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    Session.TrySetCloseReason($"client closed ({(int?)_socket.CloseStatus} {_socket.CloseStatusDescription})".TrimEnd());
                    return;
                }

                message.Advance(result.Count);
                if (message.WrittenCount > _options.MaxMessageBytes)
                {
                    // Only where no guard checked the frame's header first (HTTP/2): the buffer holds the limit and one byte.
                    batch.End();
                    var tooBig = new FrameViolation(WebSocketCloseStatus.MessageTooBig,
                        $"a message over Gateway:Http:WebSocket:MaxMessageBytes ({_options.MaxMessageBytes} bytes)", FrameViolation.TooBigDescription(_options.MaxMessageBytes));
                    _refusals.Record(Session, tooBig);
                    Session.TrySetCloseReason(tooBig.CloseReason);
                    await CloseAsync(tooBig.Status, tooBig.CloseDescription).ConfigureAwait(false);
                    await DiscardUntilCloseAsync().ConfigureAwait(false);
                    return;
                }

                betweenMessages = result.EndOfMessage;
                if (!result.EndOfMessage) continue;

                Session.Traffic.FramesIn++;
                Session.Traffic.BytesIn += message.WrittenCount;
                Session.Touch();
                if (Session.AdmitMessage(message.WrittenCount) is { } breach)
                {
                    batch.End();
                    if (breach == RateLimitBreach.Drop)
                    {
                        message.Reset();
                        continue;
                    }

                    if (breach == RateLimitBreach.Disconnect)
                    {
                        Session.TrySetCloseReason($"rate limit: faster than {Session.RateLimitSetting} allows");
                        await CloseAsync(WebSocketCloseStatus.PolicyViolation, "rate limit exceeded").ConfigureAwait(false);
                        await DiscardUntilCloseAsync().ConfigureAwait(false);
                        return;
                    }

                    // Pause: the message waits for its budget, and no more is received meanwhile, so TCP's flow control
                    // slows the client down; nothing is lost.
                    do await Session.WaitForRateLimitAsync().ConfigureAwait(false);
                    while (Session.AdmitMessage(message.WrittenCount) is not null);
                }

                batch.Begin();
                var handling = HandleAsync(result.MessageType, message.Whole());
                if (!handling.IsCompleted) batch.End();
                await handling.ConfigureAwait(false);
                message.Reset();

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
            WebSocketLog.Fault(_logger, Session.Id, ex);
            batch.End();
            message.Release();
            // A violation the guard refused has its close reason already: the WebSocket then only read the stream's end.
            if (FrameViolation.OfFrameworkFault(ex) is { } violation)
                await OnRefusedByFrameworkAsync(violation).ConfigureAwait(false);
            else
                Session.TrySetCloseReason(ConnectionLost);
        }
        finally
        {
            batch.End();
            message.Release();
        }
    }

    /// <summary>
    /// Where the next part of a message is received: the rest of the buffer, but never past the size limit and one byte,
    /// which is enough to see that a message is over it. The framework fills what it is given before it returns.
    /// </summary>
    private Memory<byte> ReceiveBuffer(MessageChunks message) => message.GetMemory(_options.MaxMessageBytes + 1 - message.WrittenCount);

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
        if (_commands is not null) return _commands.HandleAsync(type, payload);

        if (Session.PublishTopic is not { } topic)
            return CloseAsync(WebSocketCloseStatus.PolicyViolation, "this socket has no publish topic (connect with ?publish=topic)");
        if (!Session.PublishPermitted)
        {
            Session.Access.OnPublishDenied(topic);
            return CloseAsync(WebSocketCloseStatus.PolicyViolation, $"{Session.IdentityName} may not publish to '{topic}'");
        }

        var contentType = type == WebSocketMessageType.Text ? MessagePayload.TextContentType : MessagePayload.BinaryContentType;
        _bus.Publish(new Message(topic, payload.ToArray(), Session.Source, DateTimeOffset.UtcNow, contentType));
        return Task.CompletedTask;
    }
}
