using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Security;

namespace Gateway.Connections;

/// <summary>
/// One live peer on any protocol, and the one place a peer is set up and ended: its identity and permissions, the
/// topics rendered for it, its outbox and subscriptions, its traffic counters, its entry in the registry, its close
/// reason and its open and close log lines. Each protocol adds two adapters over it: an inbound one that turns its
/// unit (a frame, a datagram, a WebSocket message) into messages published as <see cref="Source"/>, and an outbound
/// one that drains <see cref="Outbox"/> into its unit. The protocol's <see cref="IConnectionControl"/> is how the
/// session, the registry and the admin API ask it to close.
/// </summary>
/// <remarks>
/// Lifecycle: the adapter creates the session when a peer arrives (<see cref="ConnectionSessions.Create"/>), calls
/// <see cref="Open"/> once its loops can run (the session subscribes, joins the registry and logs the open line),
/// <see cref="StopDeliveries"/> when it takes no more messages (its outbox still drains), and <see cref="End"/> once
/// the peer is gone (the session leaves the registry and logs the close line with the traffic and the reason).
/// </remarks>
internal sealed class ConnectionSession
{
    private readonly IConnectionControl _control;
    private readonly ConnectionRegistry _registry;
    private readonly IMessageBus _bus;
    private readonly ILogger _logger;
    private readonly IReadOnlyList<TopicFilter> _initialFilters;
    private readonly long _idleTimeoutMilliseconds;
    private readonly ConnectionLineThrottles? _lineThrottles;
    private readonly EndpointRateLimits? _rateLimits;
    private readonly PeerRateLimit? _rateLimit;
    private readonly Dictionary<string, IDisposable> _subscriptions = new(StringComparer.Ordinal);
    private string? _closeReason;
    private long _lastActivity;
    private int _opened;
    private bool _deliveriesStopped; // under the subscriptions' lock
    private int _ended;

    internal ConnectionSession(in SessionStart start, IConnectionControl control, IMessageBus bus, ConnectionRegistry registry,
        PermissionPolicy permissions, ILogger logger)
    {
        _control = control;
        _registry = registry;
        _bus = bus;
        _logger = logger;
        Id = start.Id;
        Endpoint = start.Endpoint;
        Protocol = start.Protocol;
        RemoteAddress = start.RemoteAddress;
        Destination = start.Destination;
        Identity = start.Identity;
        Source = new MessageSource(Endpoint, Id, RemoteAddress);
        Access = permissions.ForPeer(Identity, Endpoint, Id, logger);
        PublishTopic = start.PublishTopic;
        // Checked once: the topic is the same for every message of the connection.
        PublishPermitted = PublishTopic is null || Access.MayPublish(PublishTopic);
        _initialFilters = start.Subscriptions;
        _idleTimeoutMilliseconds = start.IdleTimeout is { } idle ? (long)idle.TotalMilliseconds : 0;
        _lineThrottles = start.LineThrottles;
        _rateLimits = start.RateLimits;
        _rateLimit = _rateLimits?.ForPeer();
        if (start.Outbox is { } outbox)
            Outbox = new Outbox(outbox, bus.Counters.ForEndpoint(Endpoint), () => control.Abort(CloseReasons.OutboxOverflow));
    }

    public string Id { get; }

    /// <summary>The protocol's adapter, which the session asks to close.</summary>
    public IConnectionControl Control => _control;

    /// <summary>The endpoint's name, as configuration, log lines, metrics and message sources give it.</summary>
    public string Endpoint { get; }

    /// <summary>"tcp", "unix", "udp", "ws", "wss", "sse", or a tunnel's "connect" or "tunnel".</summary>
    public string Protocol { get; }

    /// <summary>"address:port", or the socket path for a Unix socket peer.</summary>
    public string RemoteAddress { get; }

    /// <summary>Where a tunnel carries the peer's bytes, "host:port"; null for every protocol that is no tunnel.</summary>
    public string? Destination { get; }

    /// <summary>The client certificate's or API key's identity; null for an anonymous peer.</summary>
    public string? Identity { get; }

    public string IdentityName => Identity ?? PermissionPolicy.Anonymous;

    public DateTimeOffset ConnectedAt { get; } = DateTimeOffset.UtcNow;

    public ConnectionTraffic Traffic { get; } = new();

    /// <summary>Where the messages this peer sends come from.</summary>
    public MessageSource Source { get; }

    /// <summary>The peer's permissions, which count and log what they refuse.</summary>
    internal PeerAccess Access { get; }

    /// <summary>The topic the peer's messages are published to, rendered for it; null when it publishes nothing.</summary>
    public string? PublishTopic { get; }

    /// <summary>Whether the peer may publish to <see cref="PublishTopic"/>.</summary>
    public bool PublishPermitted { get; }

    /// <summary>The messages waiting for the peer; null for a peer that only publishes.</summary>
    public Outbox? Outbox { get; }

    public string CloseReason => Volatile.Read(ref _closeReason) ?? CloseReasons.Unknown;

    /// <summary>Records why the peer closes; the first reason given wins. False when one was already given.</summary>
    public bool TrySetCloseReason(string reason) => Interlocked.CompareExchange(ref _closeReason, reason, null) is null;

    /// <summary>
    /// Takes one message of <paramref name="length"/> bytes from the peer's rate limit. Null when it may pass (always,
    /// without a limit); else what the endpoint's policy says to do with it, the breach already counted and logged.
    /// </summary>
    public RateLimitBreach? AdmitMessage(int length)
    {
        if (_rateLimit is null || _rateLimit.TryAcquire(length)) return null;
        _rateLimits!.OnBreach(this);
        return _rateLimit.Breach;
    }

    /// <summary>Completes when the peer's rate limit has refilled: a paused adapter waits here before it reads on.</summary>
    public Task WaitForRateLimitAsync() => _rateLimit?.WaitForRefillAsync() ?? Task.CompletedTask;

    /// <summary>The setting of the peer's rate limit, for a close reason; null without one.</summary>
    public string? RateLimitSetting => _rateLimits?.Setting;

    /// <summary>Marks the peer active now, for the idle timeout.</summary>
    public void Touch() => Volatile.Write(ref _lastActivity, Environment.TickCount64);

    /// <summary>
    /// Subscribes the peer's initial filters (one it may not have is left out, and logged), joins the registry, and logs
    /// the open line (through the endpoint's throttle when <see cref="SessionStart.LineThrottles"/> gave one): from here
    /// on it receives, and the admin API lists it.
    /// </summary>
    public void Open()
    {
        if (Interlocked.Exchange(ref _opened, 1) != 0) throw new InvalidOperationException($"Connection {Id} was opened already.");
        Touch();
        foreach (var filter in _initialFilters)
        {
            if (Access.MaySubscribe(filter)) Subscribe(filter);
        }

        _registry.Add(this);
        if (_lineThrottles is not null && !_lineThrottles.Opened.Allow()) return;
        if (Destination is null)
            ConnectionLog.Opened(_logger, Id, Protocol, Endpoint, RemoteAddress, IdentityName);
        else
            ConnectionLog.OpenedTo(_logger, Id, Protocol, Endpoint, RemoteAddress, IdentityName, Destination);
    }

    /// <summary>Subscribes the outbox to <paramref name="filter"/>; false when it already is. The caller has checked the permission.</summary>
    public bool Subscribe(TopicFilter filter)
    {
        var outbox = Outbox ?? throw new InvalidOperationException($"Connection {Id} has no outbox to subscribe.");
        lock (_subscriptions)
        {
            if (_deliveriesStopped || _subscriptions.ContainsKey(filter.Value)) return false;
            _subscriptions.Add(filter.Value, _bus.Subscribe(filter, outbox));
            return true;
        }
    }

    /// <summary>Ends the subscription to <paramref name="filter"/>; false when there is none.</summary>
    public bool Unsubscribe(string filter)
    {
        IDisposable? subscription;
        lock (_subscriptions)
        {
            if (!_subscriptions.Remove(filter, out subscription)) return false;
        }

        subscription.Dispose();
        return true;
    }

    /// <summary>Takes no more messages: every subscription ends, and the outbox accepts nothing more but still drains.</summary>
    public void StopDeliveries()
    {
        IDisposable[] subscriptions;
        lock (_subscriptions)
        {
            if (_deliveriesStopped) return;
            _deliveriesStopped = true;
            subscriptions = [.. _subscriptions.Values];
            _subscriptions.Clear();
        }

        foreach (var subscription in subscriptions)
            subscription.Dispose();
        Outbox?.Complete();
    }

    /// <summary>The peer is gone: deliveries stop if they had not, the session leaves the registry, and the close line is logged.</summary>
    public void End()
    {
        StopDeliveries();
        if (Interlocked.Exchange(ref _ended, 1) != 0) return;
        _registry.Remove(this);
        if (_lineThrottles is not null && !_lineThrottles.Closed.Allow()) return;
        ConnectionLog.Closed(_logger, Id, Protocol, Endpoint, RemoteAddress, IdentityName, (long)(DateTimeOffset.UtcNow - ConnectedAt).TotalMilliseconds,
            CloseReason, Traffic.BytesIn, Traffic.FramesIn, Traffic.BytesOut, Traffic.FramesOut);
    }

    /// <summary>Asks the peer to close gracefully: it stops reading, sends what its outbox holds, then closes.</summary>
    public void Close(string reason) => _control.Close(reason);

    /// <summary>The server has begun to stop.</summary>
    internal void OnServerStopping() => _control.OnServerStopping();

    /// <summary>About once a second, from <see cref="ConnectionHeartbeat"/>: the idle timeout, then the protocol's own checks.</summary>
    internal void OnHeartbeat(long nowMilliseconds)
    {
        if (_idleTimeoutMilliseconds > 0 && nowMilliseconds - Volatile.Read(ref _lastActivity) > _idleTimeoutMilliseconds)
            _control.Close(CloseReasons.IdleTimeout);
        _rateLimit?.Refill();
        _control.OnHeartbeat();
    }
}

/// <summary>What a protocol's adapter tells <see cref="ConnectionSessions.Create"/> about a peer that has arrived.</summary>
/// <param name="Endpoint">The endpoint's name.</param>
/// <param name="Protocol">The protocol's name, as the admin API and metrics give it.</param>
/// <param name="PublishTopic">The topic its messages go to, already rendered; null when it publishes nothing.</param>
/// <param name="Subscriptions">The filters it subscribes to when it opens, already rendered.</param>
/// <param name="Outbox">Its outbox's size and policy; null for a peer that only publishes (it can then not subscribe).</param>
/// <param name="IdleTimeout">Closes the peer after this long without <see cref="ConnectionSession.Touch"/>; null or zero: never.</param>
/// <param name="Destination">A tunnel's destination, "host:port", for its open line and the admin API; null for other protocols.</param>
/// <param name="LineThrottles">
/// The endpoint's throttles for the open and close lines, when a sender can make peers at will (UDP); null: both lines
/// are written for every peer.
/// </param>
/// <param name="RateLimits">The endpoint's message and byte rate limits, of which the peer gets its own budget; null: none.</param>
internal readonly record struct SessionStart(
    string Endpoint, string Protocol, string Id, string RemoteAddress, string? Identity,
    string? PublishTopic, IReadOnlyList<TopicFilter> Subscriptions, OutboxOptions? Outbox, TimeSpan? IdleTimeout = null, string? Destination = null,
    ConnectionLineThrottles? LineThrottles = null, EndpointRateLimits? RateLimits = null);

/// <summary>How the session, the registry and the admin API ask a protocol's peer to close.</summary>
internal interface IConnectionControl
{
    /// <summary>Graceful close (an admin's disconnect, the idle timeout): stop taking input, send what the outbox holds, then close.</summary>
    void Close(string reason);

    /// <summary>
    /// Closes without waiting for what is queued: the outbox overflowed under the Disconnect policy. Runs on the
    /// publisher's thread, between deliveries to other subscribers: it must not block.
    /// </summary>
    void Abort(string reason);

    /// <summary>
    /// The server has begun to stop. Nothing by default, for the protocols whose listener closes them itself (Kestrel
    /// asks each TCP connection; the UDP service forgets its peers once their last datagrams are out).
    /// </summary>
    void OnServerStopping()
    {
    }

    /// <summary>About once a second, after the session's own idle check.</summary>
    void OnHeartbeat()
    {
    }
}

/// <summary>Makes sessions with the services every one of them needs.</summary>
internal sealed class ConnectionSessions(IMessageBus bus, ConnectionRegistry registry, PermissionPolicy permissions)
{
    /// <summary>
    /// A session for a peer that has arrived, not yet open. <paramref name="logger"/> is the protocol's: the session's
    /// log lines carry its category, so a protocol's lines can be filtered together.
    /// </summary>
    public ConnectionSession Create(in SessionStart start, IConnectionControl control, ILogger logger) =>
        new(start, control, bus, registry, permissions, logger);
}

/// <summary>Traffic counters of one connection. Each side is written by one loop only, so plain increments suffice.</summary>
public sealed class ConnectionTraffic
{
    public long BytesIn;
    public long BytesOut;
    public long FramesIn;
    public long FramesOut;
}
