namespace Gateway.Backplane;

/// <summary>Why a message did not cross the link.</summary>
public enum LinkDropReason
{
    /// <summary>Outgoing: the link's queue was full and its policy discarded the oldest queued message.</summary>
    QueueFullOldest,

    /// <summary>Outgoing: the link's queue was full and its policy discarded the new message.</summary>
    QueueFullNewest,

    /// <summary>Outgoing: the topic has no NATS subject (too long once escaped, or not valid Unicode).</summary>
    NoSubject,

    /// <summary>Outgoing: larger than the NATS server's max_payload.</summary>
    TooLarge,

    /// <summary>Outgoing: the client refused the publish.</summary>
    PublishFailed,

    /// <summary>Outgoing: still queued, or published, while the gateway stopped.</summary>
    Shutdown,

    /// <summary>Incoming: a subject that is no encoding of a topic (a publisher that is not a gateway).</summary>
    NotATopic,
}

/// <summary>What crossed the link and what did not, by reason; read by the metrics and the health check.</summary>
public sealed class BackplaneCounters
{
    private readonly long[] _dropped = new long[Enum.GetValues<LinkDropReason>().Length];
    private long _sent;
    private long _received;
    private long _reconnects;
    private long _subscriptions;

    public long Sent => Volatile.Read(ref _sent);

    public long Received => Volatile.Read(ref _received);

    public long Reconnects => Volatile.Read(ref _reconnects);

    /// <summary>Subscriptions this instance holds on NATS: one per local filter, two for a filter ending in "/#".</summary>
    public long Subscriptions => Volatile.Read(ref _subscriptions);

    public long Dropped(LinkDropReason reason) => Volatile.Read(ref _dropped[(int)reason]);

    internal void OnSent() => Interlocked.Increment(ref _sent);

    internal void OnReceived() => Interlocked.Increment(ref _received);

    internal void OnReconnected() => Interlocked.Increment(ref _reconnects);

    internal void OnSubscriptions(int change) => Interlocked.Add(ref _subscriptions, change);

    internal void OnDropped(LinkDropReason reason, long count = 1) => Interlocked.Add(ref _dropped[(int)reason], count);
}
