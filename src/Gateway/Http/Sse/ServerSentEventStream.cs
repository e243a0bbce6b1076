using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Http.Sse;

/// <summary>
/// One open <c>GET /api/topics/{filter}/events</c> stream: a connection of protocol "sse", whose outbound adapter writes
/// each message of its <see cref="ConnectionSession"/> as one event.
/// </summary>
internal sealed class ServerSentEventStream : IConnectionControl
{
    /// <summary>The protocol name the admin API, connections and metrics give event streams.</summary>
    public const string Protocol = "sse";

    private const string ClientClosed = "client closed";

    // How long a closing stream may take to send what it has queued.
    private static readonly TimeSpan s_closeGrace = TimeSpan.FromSeconds(5);

    private readonly HttpContext _context;
    private readonly TopicFilter _filter;
    private readonly ServerSentEventsOptions _options;
    private readonly CancellationTokenSource _closing;
    private readonly ISharedHistory? _sharedHistory;
    private readonly ILogger _logger;

    /// <param name="sharedHistory">When set, the stream reads its messages from this history rather than from the bus.</param>
    public ServerSentEventStream(HttpContext context, TopicFilter filter, ServerSentEventsOptions options, ConnectionSessions sessions, ILogger logger,
        ISharedHistory? sharedHistory = null)
    {
        _context = context;
        _filter = filter;
        _options = options;
        _sharedHistory = sharedHistory;
        _logger = logger;
        _closing = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        Session = sessions.Create(
            new SessionStart(HttpHost.EndpointOf(context.Request), Protocol, "sse-" + context.TraceIdentifier,
                $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}", HttpCaller.Of(context).Identity,
                PublishTopic: null, sharedHistory is null ? [filter] : [], options.Outbox, options.IdleTimeout),
            this, logger);
    }

    public ConnectionSession Session { get; }

    /// <summary>Graceful close: the stream takes no more messages, sends what it has queued, then ends.</summary>
    public void Close(string reason)
    {
        if (!Session.TrySetCloseReason(reason)) return;
        Session.Outbox!.Complete();
        // A client that stopped reading must not hold the stream open: past the grace period it is cut off.
        try
        {
            _closing.CancelAfter(s_closeGrace);
        }
        catch (ObjectDisposedException)
        {
            // The stream has already ended.
        }
    }

    /// <summary>An overflowing stream closes as any other: the events already queued still go.</summary>
    public void Abort(string reason) => Close(reason);

    public void OnServerStopping() => Close(CloseReasons.ServerShutdown);

    /// <summary>Replays what the client missed since <paramref name="lastEventId"/>, then streams live messages until either side closes.</summary>
    /// <param name="ending">Runs as the stream ends, before it leaves the registry: whoever counts the stream sees its place free once it is no longer listed.</param>
    public async Task RunAsync(TopicHistory history, long? lastEventId, Action? ending = null)
    {
        var response = _context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        _context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();

        var outbox = Session.Outbox!;
        using var recording = history.Enabled && _sharedHistory is null ? history.Record(_filter) : null;
        Session.Open();
        var cancellation = _closing.Token;
        try
        {
            await response.StartAsync(cancellation).ConfigureAwait(false);

            // Subscribed before the history is read: a message published meanwhile is in both, and is
            // sent once, from the history.
            HashSet<long>? replayed = null;
            if (lastEventId is { } after && history.Enabled)
            {
                replayed = [];
                foreach (var missed in history.Since(_filter, after))
                {
                    Write(missed);
                    replayed.Add(missed.Id);
                }
            }

            await response.BodyWriter.FlushAsync(cancellation).ConfigureAwait(false);
            var reading = _sharedHistory is { } shared ? ReadSharedHistoryAsync(shared, outbox, lastEventId, cancellation) : Task.CompletedTask;
            await StreamAsync(outbox, replayed, cancellation).ConfigureAwait(false);
            await reading.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            // The client went away or the stream was closed: the normal end of a stream.
        }
        finally
        {
            Session.TrySetCloseReason(ClientClosed);
            ending?.Invoke();
            Session.End();
            _closing.Dispose();
        }
    }

    /// <summary>
    /// Feeds the outbox from the shared history: what the client missed since <paramref name="lastEventId"/>, then each
    /// new message. If the history cannot be read (NATS unreachable), the stream closes saying why, and the client's
    /// reconnect, with the last id it received, resumes it.
    /// </summary>
    private async Task ReadSharedHistoryAsync(ISharedHistory shared, Outbox outbox, long? lastEventId, CancellationToken cancellation)
    {
        try
        {
            await foreach (var message in shared.ReadAsync(_filter, lastEventId, cancellation).ConfigureAwait(false))
            {
                // Unlike a live publisher, the history can wait: a replay larger than the outbox pauses here (and the
                // consumer with it) until the client has read half, rather than dropping what it came back for.
                if (outbox.Count >= _options.Outbox.Capacity)
                {
                    while (outbox.Count > _options.Outbox.Capacity / 2)
                        await Task.Delay(5, cancellation).ConfigureAwait(false);
                }

                var tally = default(DeliveryTally);
                tally.Add(outbox.Deliver(message));
                outbox.Counters.Add(tally);
            }
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            SseLog.SharedHistoryFailed(_logger, Session.Id, _filter.Value, ex.Message);
            Close(CloseReasons.SharedHistoryUnavailable);
        }
    }

    private async Task StreamAsync(Outbox outbox, HashSet<long>? replayed, CancellationToken cancellation)
    {
        var output = _context.Response.BodyWriter;
        Task<bool>? waiting = null;
        Task? keepAliveDue = null;
        while (true)
        {
            waiting ??= outbox.WaitToReadAsync().AsTask();
            // One timer at a time, replaced only once it has fired: a busy stream must not start one per message.
            keepAliveDue ??= Task.Delay(_options.KeepAliveInterval, cancellation);
            var completed = await Task.WhenAny(waiting, keepAliveDue).ConfigureAwait(false);
            cancellation.ThrowIfCancellationRequested();
            if (completed == keepAliveDue)
            {
                keepAliveDue = null;
                ServerSentEventFormatter.WriteKeepAlive(output);
            }
            else
            {
                // The same wait must not be started twice: only ask again once this one has finished.
                var readable = await waiting.ConfigureAwait(false);
                waiting = null;
                if (!readable) return;
                while (outbox.TryRead(out var message))
                {
                    if (replayed?.Contains(message.Id) != true) Write(message);
                }
            }

            var flush = await output.FlushAsync(cancellation).ConfigureAwait(false);
            if (flush.IsCompleted) return;
        }
    }

    private void Write(Message message)
    {
        ServerSentEventFormatter.Write(message, _context.Response.BodyWriter);
        // An event, not a keep-alive comment, is what keeps a stream from its idle timeout.
        Session.Touch();
        Session.Traffic.FramesOut++;
        Session.Traffic.BytesOut += message.Payload.Length;
    }
}
