using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Threading.Channels;
using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Observability;
using Gateway.Protocols.Topics;
using Gateway.Security;
using NATS.Client.Core;

namespace Gateway.Backplane;

/// <summary>
/// This instance's link to NATS: it sends local publishes out through a bounded queue, holds one NATS subscription per
/// local filter (reference-counted), and delivers what arrives to the subscribers of that filter.
/// </summary>
/// <remarks>
/// <para>Publishers never wait for NATS: <see cref="Forward"/> queues, and one loop publishes. While NATS is down the
/// queue fills and its overflow policy drops, counted by reason; once the client reconnects the loop goes on.</para>
/// <para>Subscribing never waits for NATS either (<see cref="NatsInterests"/>). The client does not echo this
/// instance's own publishes back, so nothing is delivered twice.</para>
/// </remarks>
internal sealed partial class NatsLink : IAsyncDisposable
{
    /// <summary>How long a stop waits for the queue to reach NATS before counting what is left as dropped.</summary>
    private static readonly TimeSpan s_drainTimeout = TimeSpan.FromSeconds(2);

    /// <summary>Messages from NATS waiting for delivery here before the client's read loop waits.</summary>
    private const int ReceivedCapacity = 8192;

    /// <summary>Most received messages delivered under one batch, so writers are woken at least this often.</summary>
    private const int ReceivedBatchSize = 256;

    /// <summary>How long closing a NATS connection may take before the stop goes on without it.</summary>
    private static readonly TimeSpan s_closeTimeout = TimeSpan.FromSeconds(2);

    private readonly BackplaneOptions _options;
    private readonly InProcessMessageBus _local;
    private readonly ILogger<NatsLink> _logger;
    private readonly TimeProvider _time;
    private readonly Outbox _outbox;
    private readonly MessageCounters _outboxCounters = new();
    private readonly NatsInterests _interests;
    private readonly Dictionary<string, string?> _subjects = new(StringComparer.Ordinal); // the send loop's own
    private readonly Channel<Received> _received = Channel.CreateBounded<Received>(new BoundedChannelOptions(ReceivedCapacity)
    {
        SingleReader = true,
        SingleWriter = true, // the client's one read loop
        FullMode = BoundedChannelFullMode.Wait,
    });
    private readonly CancellationTokenSource _stopping = new();
    private readonly X509Certificate2? _clientCertificate;
    private Task _sending = Task.CompletedTask;
    private Task _subscribing = Task.CompletedTask;
    private Task _probing = Task.CompletedTask;
    private Task _delivering = Task.CompletedTask;
    private int _opened;
    private bool _publishFailing; // the send loop's own

    public NatsLink(IOptions<GatewayOptions> options, InProcessMessageBus local, ILoggerFactory loggers, TimeProvider time)
    {
        _options = options.Value.Backplane;
        _local = local;
        _logger = loggers.CreateLogger<NatsLink>();
        _time = time;
        _outbox = new Outbox(_options.Outbox, _outboxCounters);
        if (_options.Tls.ClientCertificate.Path is not null) _clientCertificate = CertificateFiles.LoadWithKey(_options.Tls.ClientCertificate);

        InstanceId = Guid.NewGuid().ToString("N")[..12];
        Connection = new NatsConnection(ConnectionOptions($"gateway-{InstanceId}", loggers));
        Connection.ConnectionOpened += OnOpenedAsync;
        Connection.ConnectionDisconnected += OnDisconnectedAsync;
        _interests = new NatsInterests(this, _logger);
        Probe = new RoundTripProbe(this, ConnectionOptions($"gateway-{InstanceId}-probe", loggers), _options, time, loggers.CreateLogger<RoundTripProbe>());
    }

    /// <summary>Names this instance in the message ids it sends and in its NATS connection's name.</summary>
    public string InstanceId { get; }

    public NatsConnection Connection { get; }

    public RoundTripProbe Probe { get; }

    public BackplaneCounters Counters { get; } = new();

    public BackplaneOptions Options => _options;

    /// <summary>Messages waiting for NATS.</summary>
    public int Queued => _outbox.Count;

    /// <summary>The drops of the link's queue, which counts them itself: oldest and newest discarded, and those refused while stopping.</summary>
    public long Dropped(LinkDropReason reason) => reason switch
    {
        LinkDropReason.QueueFullOldest => _outboxCounters.DroppedOldest,
        LinkDropReason.QueueFullNewest => _outboxCounters.DroppedNewest,
        LinkDropReason.Shutdown => _outboxCounters.DroppedClosed + Counters.Dropped(reason),
        _ => Counters.Dropped(reason),
    };

    public void Start()
    {
        _sending = Task.Run(SendAsync);
        _subscribing = Task.Run(() => _interests.ApplyChangesAsync(_stopping.Token));
        _delivering = Task.Run(DeliverReceivedAsync);
        _probing = Task.Run(() => Probe.RunAsync(_stopping.Token));
        // The client connects in the background and keeps retrying: the local bus works without NATS meanwhile.
        _ = Task.Run(async () =>
        {
            try
            {
                await Connection.ConnectAsync();
            }
            catch (Exception ex) when (_stopping.IsCancellationRequested || ex is ObjectDisposedException)
            {
            }
            catch (Exception ex)
            {
                // The client gave up (refused credentials, say): the probe keeps the check red, and this says why.
                LogConnectFailed(_logger, string.Join(", ", _options.Urls), ex.Message);
            }
        });
    }

    /// <summary>Queues local publishes for NATS; never waits. A full queue applies its overflow policy.</summary>
    public void Forward(ReadOnlySpan<Message> messages)
    {
        var tally = default(DeliveryTally);
        _outbox.DeliverAll(messages, ref tally);
        _outboxCounters.Add(tally);
    }

    /// <summary>Counts one local subscriber of <paramref name="filter"/>; the first one subscribes on NATS, and disposing the last one's handle unsubscribes.</summary>
    public IDisposable AddInterest(TopicFilter filter) => _interests.Add(filter);

    /// <summary>
    /// A message from NATS, on the client's read loop: queued for the subscribers of the filter whose subscription
    /// received it. When the queue is full the read loop waits, and NATS's own flow control takes over (a server
    /// drops what a slow client cannot take, and says so).
    /// </summary>
    internal ValueTask Receive(TopicFilter filter, string subject, ReadOnlySequence<byte>? headersBuffer, ReadOnlySequence<byte> payload)
    {
        if (!NatsSubject.TryToTopic(_options.SubjectPrefix, subject, out var topic))
        {
            Counters.OnDropped(LinkDropReason.NotATopic);
            return default;
        }

        NatsHeaders? headers = null;
        if (headersBuffer is { } buffer)
        {
            headers = new NatsHeaders();
            if (!Connection.HeaderParser.ParseHeaders(new SequenceReader<byte>(buffer), headers)) headers = null;
        }

        var message = BackplaneHeaders.Read(topic, payload.ToArray(), headers, _time.GetUtcNow(), out var traceParent);
        Counters.OnReceived();
        var received = new Received(filter, message, traceParent == default ? null : MessageTracing.StartReceived(message, traceParent));
        return _received.Writer.TryWrite(received) ? default : _received.Writer.WriteAsync(received, _stopping.Token);
    }

    /// <summary>
    /// Delivers what NATS brought, in order, a batch at a time: every message that arrived while the last batch was being
    /// written goes out together, and each subscriber's writer is woken once per batch (as for the frames of one socket
    /// read), not once per message, which at 2,000 messages/s to 1,000 subscribers is the difference between one
    /// send per subscriber per batch and 2 million sends a second.
    /// </summary>
    private async Task DeliverReceivedAsync()
    {
        var reader = _received.Reader;
        try
        {
            while (await reader.WaitToReadAsync(_stopping.Token))
            {
                using (DeliveryBatch.Begin())
                {
                    // Bounded, so a steady stream cannot defer the writers' wake-up for ever.
                    for (var taken = 0; taken < ReceivedBatchSize && reader.TryRead(out var received); taken++)
                    {
                        _local.DeliverToFilter(received.Filter, received.Message);
                        received.Trace?.Dispose();
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
    }

    private async Task SendAsync()
    {
        string? lastTopic = null;
        string? lastSubject = null;
        while (await _outbox.WaitToReadAsync())
        {
            while (_outbox.TryRead(out var message))
            {
                // A connection publishes every frame on one topic string: the subject is looked up once for a run of them.
                if (!ReferenceEquals(message.Topic, lastTopic))
                {
                    lastTopic = message.Topic;
                    lastSubject = SubjectOf(message.Topic);
                }

                if (lastSubject is null)
                {
                    Counters.OnDropped(LinkDropReason.NoSubject);
                    continue;
                }

                await PublishAsync(lastSubject, message);
            }
        }
    }

    private async ValueTask PublishAsync(string subject, Message message)
    {
        if (Connection.ServerInfo is { } server && message.Payload.Length > server.MaxPayload)
        {
            Counters.OnDropped(LinkDropReason.TooLarge);
            return;
        }

        try
        {
            // While the client reconnects this waits, and the queue behind it fills: the overflow policy applies there.
            await Connection.PublishAsync(subject, message.Payload, BackplaneHeaders.Write(message, InstanceId),
                serializer: NatsRawSerializer<ReadOnlyMemory<byte>>.Default, cancellationToken: _stopping.Token);
            Counters.OnSent();
            _publishFailing = false;
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            Counters.OnDropped(LinkDropReason.Shutdown);
        }
        catch (NatsPayloadTooLargeException)
        {
            Counters.OnDropped(LinkDropReason.TooLarge);
        }
        catch (Exception ex) when (ex is NatsException or ObjectDisposedException or InvalidOperationException)
        {
            Counters.OnDropped(LinkDropReason.PublishFailed);
            // One line per run of failures, not one per message: the counter has the number.
            if (!_publishFailing && !_stopping.IsCancellationRequested) LogPublishFailed(_logger, subject, ex.Message);
            _publishFailing = true;
        }
    }

    /// <summary>The subject of a topic, remembered for the topics seen lately (cleared when it holds 10,000).</summary>
    private string? SubjectOf(string topic)
    {
        if (_subjects.TryGetValue(topic, out var subject)) return subject;
        if (_subjects.Count >= 10_000) _subjects.Clear();
        NatsSubject.TryFromTopic(_options.SubjectPrefix, topic, out subject);
        _subjects[topic] = subject;
        return subject;
    }

    private ValueTask OnOpenedAsync(object? sender, NatsEventArgs args)
    {
        if (Interlocked.Increment(ref _opened) > 1) Counters.OnReconnected();
        LogConnected(_logger, Connection.ServerInfo?.Name ?? "?", args.Message, Counters.Subscriptions);
        return default;
    }

    private ValueTask OnDisconnectedAsync(object? sender, NatsEventArgs args)
    {
        if (!_stopping.IsCancellationRequested) LogDisconnected(_logger, args.Message, Queued);
        return default;
    }

    internal NatsOpts ConnectionOptions(string name, ILoggerFactory loggers) => new()
    {
        Url = string.Join(",", _options.Urls),
        Name = name,
        // An instance never receives its own publishes back: its subscribers had them from the local bus.
        Echo = false,
        Headers = true,
        HeaderEncoding = Encoding.UTF8,
        AuthOpts = new NatsAuthOpts
        {
            Username = _options.Username,
            Password = _options.Password,
            Token = _options.Token,
            CredsFile = _options.CredentialsFile,
            NKeyFile = _options.NKeyFile,
        },
        TlsOpts = TlsOptions(),
        // Start without NATS and keep trying: the local bus serves meanwhile, and the queue holds what is for NATS.
        RetryOnInitialConnect = true,
        MaxReconnectRetry = -1,
        ReconnectWaitMin = TimeSpan.FromMilliseconds(250),
        ReconnectWaitMax = TimeSpan.FromSeconds(2),
        LoggerFactory = loggers,
    };

    private NatsTlsOpts TlsOptions()
    {
        var tls = _options.Tls;
        if (!tls.IsConfigured) return NatsTlsOpts.Default;
        var certificate = _clientCertificate;
        return new NatsTlsOpts
        {
            Mode = TlsMode.Require,
            CaFile = tls.CertificateAuthority,
            ConfigureClientAuthentication = certificate is null ? null : authentication =>
            {
                authentication.ClientCertificates = [certificate];
                return default;
            },
        };
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // What is queued gets a short time to reach NATS; what arrives from now on is counted as dropped at shutdown.
        _outbox.Complete();
        await Task.WhenAny(_sending, Task.Delay(s_drainTimeout, cancellationToken));
        // The send loop then takes what is left and counts each as dropped at shutdown, as its publishes are cancelled.
        await _stopping.CancelAsync();
        // An unsubscribe in progress cannot be cancelled, and waits for an unreachable NATS: the stop does not.
        await Task.WhenAll(_sending, _subscribing, _probing, _delivering).WaitAsync(s_closeTimeout, CancellationToken.None)
            .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopping.IsCancellationRequested) await _stopping.CancelAsync();
        await DisposeBoundedAsync(Probe.DisposeAsync());
        // The client unsubscribes each subscription as it closes: with NATS unreachable and thousands of them, its
        // commands time out (after 21 s, with 10,000), and its exception would end the process. Stopping must not wait
        // for a broker that is gone.
        await DisposeBoundedAsync(Connection.DisposeAsync());
        _clientCertificate?.Dispose();
        _stopping.Dispose();
    }

    private async Task DisposeBoundedAsync(ValueTask disposal)
    {
        try
        {
            await disposal.AsTask().WaitAsync(s_closeTimeout);
        }
        catch (Exception ex) when (ex is NatsException or TimeoutException or OperationCanceledException)
        {
            LogDisposeAbandoned(_logger, Counters.Subscriptions, ex.Message);
        }
    }

    /// <summary>A message from NATS on its way to the subscribers of <see cref="Filter"/>, with the span of its receipt when traced.</summary>
    private readonly record struct Received(TopicFilter Filter, Message Message, Activity? Trace);

    [LoggerMessage(EventId = LogEventIds.Backplane, EventName = "BackplaneConnected", Level = LogLevel.Information,
        Message = "Backplane connected to NATS server {Server} ({Url}); {Subscriptions} subscriptions held for this instance's peers.")]
    private static partial void LogConnected(ILogger logger, string server, string url, long subscriptions);

    [LoggerMessage(EventId = LogEventIds.Backplane + 1, EventName = "BackplaneDisconnected", Level = LogLevel.Warning,
        Message = "Backplane disconnected from NATS ({Reason}); the local bus goes on, {Queued} messages queued for NATS, reconnecting.")]
    private static partial void LogDisconnected(ILogger logger, string reason, int queued);

    [LoggerMessage(EventId = LogEventIds.Backplane + 2, EventName = "BackplanePublishFailed", Level = LogLevel.Warning,
        Message = "Backplane could not publish to '{Subject}': {Reason}; the message was dropped and counted, as are the failures that follow until a publish succeeds.")]
    private static partial void LogPublishFailed(ILogger logger, string subject, string reason);

    [LoggerMessage(EventId = LogEventIds.Backplane + 5, EventName = "BackplaneConnectFailed", Level = LogLevel.Error,
        Message = "Backplane could not connect to NATS at {Urls} and stopped trying: {Reason}. The local bus goes on; the backplane check stays red.")]
    private static partial void LogConnectFailed(ILogger logger, string urls, string reason);

    [LoggerMessage(EventId = LogEventIds.Backplane + 4, EventName = "BackplaneDisposeAbandoned", Level = LogLevel.Warning,
        Message = "Backplane stopped without closing its NATS connection cleanly ({Subscriptions} subscriptions; {Reason}): the server drops them with the connection.")]
    private static partial void LogDisposeAbandoned(ILogger logger, long subscriptions, string reason);
}
