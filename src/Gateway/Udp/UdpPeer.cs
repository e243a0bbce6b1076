using System.Globalization;
using System.Net;
using System.Threading.RateLimiting;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Security;

namespace Gateway.Udp;

/// <summary>
/// One source address that has sent to a UDP endpoint recently. UDP has no connection, so this is the
/// gateway's memory of the sender: the topics rendered for it, its rate limit, and (without a target) its
/// subscriptions and delivery loop, which send datagrams back to it until it goes quiet for PeerIdleTimeout.
/// </summary>
/// <remarks>The Node dgram model: 'message' gives the sender's address; replies go to that address.</remarks>
internal sealed class UdpPeer : IGatewayConnection
{
    private static long s_lastId;

    private readonly UdpListener _listener;
    private readonly TokenBucketRateLimiter? _rateLimiter;
    private readonly long _idleTimeoutMilliseconds;
    private readonly TopicFilter[] _subscriptionFilters;
    private IDisposable[] _subscriptions = [];
    private UdpDelivery? _delivery;
    private string? _closeReason;
    private long _lastHeard;

    /// <exception cref="TopicException">A template renders an invalid topic for this peer.</exception>
    public UdpPeer(UdpListener listener, SocketAddress address, IPEndPoint remote)
    {
        _listener = listener;
        var endpoint = listener.Endpoint;
        Id = "udp-" + Interlocked.Increment(ref s_lastId).ToString(CultureInfo.InvariantCulture);
        Address = address;
        RemoteAddress = remote.ToString();
        RecencyNode = new LinkedListNode<UdpPeer>(this);
        Source = new MessageSource(endpoint.Name, Id, RemoteAddress);
        _idleTimeoutMilliseconds = (long)endpoint.Options.Udp.PeerIdleTimeout.TotalMilliseconds;

        // Rendered once per peer, so the receive loop publishes to a ready string.
        var values = new TopicTemplateValues(endpoint.Name, Id, RemoteAddress, ClientId: null);
        PublishTopic = endpoint.PublishTemplate?.Render(values);
        Access = listener.AccessFor(Id);
        PublishPermitted = PublishTopic is null || Access.MayPublish(PublishTopic);
        // With a target, the endpoint subscribes once for all its deliveries; its peers only publish.
        _subscriptionFilters = endpoint.Target is null ? RenderFilters(endpoint.SubscribeTemplates, values) : [];

        if (endpoint.Options.Udp.RateLimitPerSecond is { } perSecond)
        {
            // Replenished by the connection heartbeat, once a second: no timer per peer.
            _rateLimiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = endpoint.Options.Udp.RateLimitBurst ?? perSecond,
                TokensPerPeriod = perSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                AutoReplenishment = false,
                QueueLimit = 0,
            });
        }
    }

    public string Id { get; }

    public string Endpoint => _listener.Endpoint.Name;

    public string Protocol => UdpEndpoint.Protocol;

    /// <summary>"address:port", IPv4 senders on a dual-mode socket shown as IPv4.</summary>
    public string RemoteAddress { get; }

    public string? Identity => null;

    public DateTimeOffset ConnectedAt { get; } = DateTimeOffset.UtcNow;

    public ConnectionTraffic Traffic { get; } = new();

    /// <summary>The sender's address as the socket reports it: the key of the peer table and the destination of replies.</summary>
    public SocketAddress Address { get; }

    public LinkedListNode<UdpPeer> RecencyNode { get; }

    /// <summary>Where this peer's datagrams are published; null when the endpoint publishes nothing.</summary>
    public string? PublishTopic { get; }

    public MessageSource Source { get; }

    public PeerAccess Access { get; }

    /// <summary>Whether the peer may publish to <see cref="PublishTopic"/>; checked once, as the topic never changes.</summary>
    public bool PublishPermitted { get; }

    /// <summary>Completes when the delivery loop has sent what was queued when the peer was forgotten.</summary>
    public Task Delivered { get; private set; } = Task.CompletedTask;

    public string CloseReason => Volatile.Read(ref _closeReason) ?? "unknown";

    /// <summary>Subscribes the peer's filters and starts its delivery loop.</summary>
    public void Open(IMessageBus bus, ILogger logger)
    {
        Touch();
        if (_subscriptionFilters.Length == 0) return;
        _delivery = new UdpDelivery(_listener.Socket, _listener.Batched, _listener.Endpoint, bus.Counters, logger, Address, RemoteAddress, Traffic,
            () => Close("outbox overflow"));
        // A subscription the peer may not have is left out (and logged); the others work.
        _subscriptions = [.. _subscriptionFilters.Where(Access.MaySubscribe).Select(filter => bus.Subscribe(filter, _delivery.Outbox))];
        Delivered = _delivery.RunAsync();
    }

    /// <summary>Called by the receive loop for each datagram: refreshes the peer and applies its rate limit.</summary>
    public bool TryAccept(int length)
    {
        Touch();
        if (_rateLimiter is not null)
        {
            using var lease = _rateLimiter.AttemptAcquire();
            if (!lease.IsAcquired) return false;
        }

        Traffic.FramesIn++;
        Traffic.BytesIn += length;
        return true;
    }

    /// <summary>Forgets the peer: it gets no more deliveries, and its next datagram makes it a new peer.</summary>
    public void Close(string reason)
    {
        if (Interlocked.CompareExchange(ref _closeReason, reason, null) is null)
            _listener.Forget(this);
    }

    public void OnHeartbeat(long nowMilliseconds)
    {
        _rateLimiter?.TryReplenish();
        if (nowMilliseconds - Volatile.Read(ref _lastHeard) > _idleTimeoutMilliseconds)
            Close("idle timeout");
    }

    /// <summary>Stops deliveries; what is already queued is still sent.</summary>
    internal void Release()
    {
        foreach (var subscription in _subscriptions)
            subscription.Dispose();
        _delivery?.Outbox.Complete();
        // The rate limiter is not disposed: the receive loop may still be asking it about a datagram in flight,
        // and without auto-replenishment it holds no timer.
    }

    private void Touch() => Volatile.Write(ref _lastHeard, Environment.TickCount64);

    private static TopicFilter[] RenderFilters(IReadOnlyList<TopicTemplate> templates, in TopicTemplateValues values)
    {
        var filters = new TopicFilter[templates.Count];
        for (var i = 0; i < filters.Length; i++)
            filters[i] = templates[i].RenderFilter(values);
        return filters;
    }
}
