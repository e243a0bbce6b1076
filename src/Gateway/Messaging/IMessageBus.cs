using Gateway.Protocols.Topics;

namespace Gateway.Messaging;

/// <summary>The one topic space every endpoint publishes to and subscribes from.</summary>
public interface IMessageBus
{
    /// <summary>Hands the message to every matching subscriber without waiting for any of them. Returns how many matched.</summary>
    int Publish(Message message);

    /// <summary>Delivers messages whose topic matches <paramref name="filter"/> until the returned handle is disposed.</summary>
    IDisposable Subscribe(TopicFilter filter, IMessageSubscriber subscriber);

    MessageCounters Counters { get; }
}

/// <summary>Receives messages from the bus. <see cref="Deliver"/> must not block: it runs on the publisher's thread.</summary>
public interface IMessageSubscriber
{
    DeliveryOutcome Deliver(Message message);

    /// <summary>
    /// True for the gateway's own bookkeeping (the event-stream history): it receives messages but is not
    /// counted as a subscriber that matched, nor as a delivery.
    /// </summary>
    bool IsObserver => false;
}

/// <summary>What a subscriber did with a message handed to it.</summary>
public enum DeliveryOutcome
{
    /// <summary>Queued for the peer (possibly after discarding an older message, which the subscriber counts).</summary>
    Accepted,

    /// <summary>Discarded because the outbox was full and its policy is drop-newest.</summary>
    DroppedNewest,

    /// <summary>Discarded, and the subscriber disconnected because its outbox overflowed.</summary>
    DroppedOverflowDisconnect,

    /// <summary>Discarded because the subscriber is closing.</summary>
    DroppedClosed,

    /// <summary>Discarded on the way out because the subscriber's protocol cannot carry it (too large for its framing, for example).</summary>
    DroppedUnframeable,
}
