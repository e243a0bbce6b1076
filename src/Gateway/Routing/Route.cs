using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Security;

namespace Gateway.Routing;

/// <summary>
/// One route: a subscriber whose outbound adapter is an upstream client. Messages matching its filters wait in its
/// bounded queue (<see cref="RouteQueue"/>); up to its window of them are sent at once, the answers are published to
/// the reply topic, and what it gives up on is published to the dead-letter topic. A slow or dead upstream costs the
/// publisher one queued message, never a wait.
/// </summary>
/// <remarks>
/// It subscribes on this instance's bus alone and takes only what entered this instance: with the backplane, every
/// instance runs the same routes, and each message is forwarded once, by the instance it entered. Its answers and dead
/// letters are published on the whole topic space.
/// </remarks>
internal sealed class Route : IMessageSubscriber, IAsyncDisposable
{
    private readonly RouteOptions _options;
    private readonly IMessageBus _bus;
    private readonly InProcessMessageBus _local;
    private readonly ILogger _logger;
    private readonly PeerAccess _access;
    private readonly TopicTemplate? _replyTopic;
    private readonly TopicTemplate? _deadLetter;
    private readonly MessageSource _source;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IDisposable> _subscriptions = [];
    private int _taking; // 1 while a thread takes from the queue and starts sends
    private int _moreWork; // set by a caller that found another thread taking
    private long _pausedUntilTicks;
    private int _templateErrorLogged;
    private RouteError? _lastError;
    private Task _ticks = Task.CompletedTask;

    public Route(string name, RouteOptions options, IUpstream upstream, IMessageBus bus, InProcessMessageBus local, PermissionPolicy permissions,
        ILogger logger)
    {
        Name = name;
        _options = options;
        Upstream = upstream;
        _bus = bus;
        _local = local;
        _logger = logger;
        _access = permissions.ForPeer(options.Identity, name, "route", logger);
        _replyTopic = options.ReplyTopic is null ? null : TopicTemplate.Parse(options.ReplyTopic, TemplateKind.Topic);
        _deadLetter = options.DeadLetter is null ? null : TopicTemplate.Parse(options.DeadLetter, TemplateKind.Topic);
        _source = new MessageSource(name, null, upstream.Destination);
        Queue = new RouteQueue(options.Queue, options.MaxInFlight, options.Ordering, options.Ttl);
    }

    public string Name { get; }

    public RouteOptions Options => _options;

    public IUpstream Upstream { get; }

    public RouteQueue Queue { get; }

    /// <summary>The last failure: what and when; null before the first.</summary>
    public RouteError? LastError => Volatile.Read(ref _lastError);

    /// <summary>Starts the upstream and the route's tick, then subscribes to the route's filters on this instance's bus.</summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await Upstream.StartAsync(PublishUnsolicitedAnswer, cancellationToken).ConfigureAwait(false);
        _ticks = Task.Run(TickAsync, CancellationToken.None);
        foreach (var filter in _options.From)
            _subscriptions.Add(_local.Subscribe(TopicFilter.Parse(filter), this));
    }

    public DeliveryOutcome Deliver(Message message)
    {
        // Another instance's publish, here for a local subscriber with the same filter: that instance forwards it.
        if (message.FromOtherInstance) return DeliveryOutcome.Accepted;
        var discarded = Queue.Enqueue(message, out var accepted);
        if (discarded is not null) DeadLetter(discarded);
        Wake();
        return accepted ? DeliveryOutcome.Accepted : DeliveryOutcome.DroppedNewest;
    }

    /// <summary>
    /// Takes what may be sent and starts sending it, on the calling thread: the publisher's, after a new message, or the
    /// one that completed a send. One thread at a time does it; another that calls meanwhile leaves a note, which the one
    /// at work picks up before it stops. So a message goes from the socket that brought it to the upstream's socket
    /// with no hand-off between threads, as in Node's event loop: on one core each hand-off is a context switch, and
    /// those cost more than the forwarding itself.
    /// </summary>
    private void Wake()
    {
        Volatile.Write(ref _moreWork, 1);
        while (Volatile.Read(ref _moreWork) == 1 && Interlocked.CompareExchange(ref _taking, 1, 0) == 0)
        {
            try
            {
                Volatile.Write(ref _moreWork, 0);
                TakeAndSend();
            }
            finally
            {
                // A full fence, not a release: the loop's next read of the note must not come before this write is
                // seen, or a caller that left a note meanwhile and saw this thread still taking would be missed by both.
                Interlocked.Exchange(ref _taking, 0);
            }
        }
    }

    private void TakeAndSend()
    {
        while (!_stopping.IsCancellationRequested)
        {
            var now = DateTime.UtcNow.Ticks;
            if (Volatile.Read(ref _pausedUntilTicks) > now)
            {
                // The circuit is open: nothing is sent, but what outlives its TTL meanwhile still leaves the queue.
                while (Queue.TryExpireOldest(now, out var old))
                    DeadLetter(old);
                return;
            }

            if (!Queue.TryTake(now, out var message, out var expired)) return;
            if (expired) DeadLetter(message);
            else _ = ForwardAsync(message);
        }
    }

    /// <summary>
    /// Wakes the route once a second, so what outlives its TTL while nothing can be sent (the circuit open) leaves the
    /// queue. An idle route costs one timer a second, not a wake-up per message.
    /// </summary>
    private async Task TickAsync()
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false))
                Wake();
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
    }

    /// <summary>Sends nothing for <paramref name="duration"/>, then wakes the route so the queue flows again.</summary>
    private void Pause(TimeSpan duration)
    {
        Volatile.Write(ref _pausedUntilTicks, DateTime.UtcNow.Ticks + duration.Ticks);
        _ = WakeWhenPauseEndsAsync();
    }

    private async Task WakeWhenPauseEndsAsync()
    {
        try
        {
            // A timer may end a little before the wall clock that keeps the pause says it is over: wait until it does.
            for (long left; (left = Volatile.Read(ref _pausedUntilTicks) - DateTime.UtcNow.Ticks) > 0;)
                await Task.Delay(TimeSpan.FromTicks(Math.Max(left, TimeSpan.TicksPerMillisecond)), _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        Wake();
    }

    private async Task ForwardAsync(Message message)
    {
        // A timer for the TTL only when it ends before the total timeout would: mostly there is none to make.
        var left = message.Timestamp.UtcTicks + _options.Ttl.Ticks - DateTime.UtcNow.Ticks;
        using var deadline = left < _options.TotalTimeout.Ticks ? CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token) : null;
        deadline?.CancelAfter(TimeSpan.FromTicks(Math.Max(left, 1)));
        var token = deadline?.Token ?? _stopping.Token;
        UpstreamResult result;
        try
        {
            result = await Upstream.SendAsync(message, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            var stopping = _stopping.IsCancellationRequested;
            Fail(stopping ? "stopped while in flight" : $"TTL of {_options.Ttl.TotalSeconds:0.###} s passed while in flight");
            // Dead-lettered before it ends, so a message that has ended has been dead-lettered too.
            DeadLetter(message);
            Queue.Complete(message, stopping ? RouteOutcome.Shutdown : RouteOutcome.Expired);
            Wake();
            return;
        }
        catch (Exception ex)
        {
            // An upstream reports failures as results; this is a fault of its own, and the message must still end.
            result = UpstreamResult.Failed(ex.Message);
        }

        switch (result.Status)
        {
            case UpstreamStatus.Succeeded:
                Queue.Complete(message, RouteOutcome.Succeeded);
                if (result.Answer is { } answer) PublishAnswer(message, answer, result.AnswerContentType);
                break;
            case UpstreamStatus.Unavailable:
                // Not tried: it waits at the front of the queue until the circuit lets a trial through.
                Fail(result.Error!);
                Pause(result.RetryAfter ?? _options.CircuitBreaker.BreakDuration);
                Queue.PutBack(message);
                break;
            default:
                Fail(result.Error!);
                DeadLetter(message);
                Queue.Complete(message, RouteOutcome.Failed);
                break;
        }

        Wake();
    }

    private void Fail(string error) => Volatile.Write(ref _lastError, new RouteError(error, DateTimeOffset.UtcNow));

    /// <summary>The body of an HTTP answer, to the reply topic rendered for the message it answers.</summary>
    private void PublishAnswer(Message answered, byte[] answer, string? contentType)
    {
        if (_replyTopic is not null && Render(_replyTopic, answered) is { } topic)
            PublishAs(topic, answer, contentType);
    }

    /// <summary>A frame or datagram the upstream sent of its own, to the reply topic (which has no placeholders then).</summary>
    private void PublishUnsolicitedAnswer(byte[] answer)
    {
        if (_replyTopic is not null) PublishAs(_replyTopic.Template, answer, null);
    }

    private void DeadLetter(Message message)
    {
        if (_deadLetter is null || Render(_deadLetter, message) is not { } topic) return;
        if (PublishAs(topic, message.Payload, message.ContentType)) Queue.OnDeadLettered();
    }

    private bool PublishAs(string topic, ReadOnlyMemory<byte> payload, string? contentType)
    {
        if (!_access.MayPublish(topic))
        {
            _access.OnPublishDenied(topic);
            return false;
        }

        _bus.Publish(new Message(topic, payload, _source, DateTimeOffset.UtcNow, contentType));
        return true;
    }

    private string? Render(TopicTemplate template, Message message)
    {
        try
        {
            return template.IsConstant
                ? template.Template
                : template.Render(new TopicTemplateValues(message.SourceEndpoint, message.ConnectionId ?? "", message.RemoteAddress ?? "", null));
        }
        catch (TopicException ex)
        {
            if (Interlocked.Exchange(ref _templateErrorLogged, 1) == 0) RouteLog.TemplateFailed(_logger, Name, template.Template, ex.Message);
            return null;
        }
    }

    /// <summary>
    /// Stops taking messages, gives the queue and the messages in flight until <paramref name="cancellationToken"/> ends
    /// to reach the upstream, then ends what is left, counted as dropped at shutdown and dead-lettered.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var subscription in _subscriptions)
            subscription.Dispose();
        _subscriptions.Clear();
        try
        {
            while (Queue.Snapshot() is { Queued: > 0 } or { InFlight: > 0 } && !Upstream.Circuit.IsOpen)
                await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Out of time: what is left is dropped below.
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        await _ticks.ConfigureAwait(false);
        foreach (var message in Queue.Close())
            DeadLetter(message);
        // The messages in flight see the cancellation and end as dropped at shutdown; an upstream client ends at once.
        for (var waited = 0; Queue.Snapshot().InFlight > 0 && waited < 5_000; waited += 10)
            await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await Upstream.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }
}

/// <summary>A route's last failure.</summary>
internal sealed record RouteError(string Message, DateTimeOffset At);
