using Gateway.Protocols.Topics;

namespace Gateway.Messaging;

/// <summary>The one topic space every endpoint publishes to and subscribes from.</summary>
public interface IMessageBus
{
    /// <summary>Hands the message to every matching subscriber without waiting for any of them. Returns how many matched.</summary>
    int Publish(Message message);

    /// <summary>
    /// Publishes the messages in order, as a <see cref="Publish(Message)"/> of each would, but consecutive messages
    /// on one topic share the subscription lookup and reach each subscriber in one hand-over (the frames of one
    /// socket read). Returns the sum over the messages of how many subscribers matched.
    /// </summary>
    int Publish(ReadOnlySpan<Message> messages);

    /// <summary>Delivers messages whose topic matches <paramref name="filter"/> until the returned handle is disposed.</summary>
    IDisposable Subscribe(TopicFilter filter, IMessageSubscriber subscriber);

    /// <summary>The process's totals; <see cref="MessageCounters.ForEndpoint"/> has each endpoint's.</summary>
    MessageCounters Counters { get; }
}

/// <summary>Receives messages from the bus. <see cref="Deliver"/> must not block: it runs on the publisher's thread.</summary>
public interface IMessageSubscriber
{
    DeliveryOutcome Deliver(Message message);

    /// <summary>
    /// Takes consecutive messages on one topic, in order, as a <see cref="Deliver"/> of each would, and adds each
    /// outcome to <paramref name="tally"/>. An outbox queues them all under one lock.
    /// </summary>
    void DeliverAll(ReadOnlySpan<Message> messages, ref DeliveryTally tally)
    {
        foreach (var message in messages)
            tally.Add(Deliver(message));
    }

    /// <summary>
    /// True for the gateway's own bookkeeping (the event-stream history): it receives messages but is not
    /// counted as a subscriber that matched, nor as a delivery.
    /// </summary>
    bool IsObserver => false;

    /// <summary>The counters its deliveries and drops are added to (its endpoint's); null for the bus's totals.</summary>
    MessageCounters? Counters => null;
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

/// <summary>How many of a run of messages had each <see cref="DeliveryOutcome"/>.</summary>
public struct DeliveryTally
{
    public int Accepted;
    public int DroppedNewest;
    public int DroppedOverflowDisconnect;
    public int DroppedClosed;
    public int DroppedUnframeable;

    public readonly int Total => Accepted + DroppedNewest + DroppedOverflowDisconnect + DroppedClosed + DroppedUnframeable;

    public void Add(DeliveryOutcome outcome, int count = 1)
    {
        switch (outcome)
        {
            case DeliveryOutcome.Accepted: Accepted += count; break;
            case DeliveryOutcome.DroppedNewest: DroppedNewest += count; break;
            case DeliveryOutcome.DroppedOverflowDisconnect: DroppedOverflowDisconnect += count; break;
            case DeliveryOutcome.DroppedClosed: DroppedClosed += count; break;
            case DeliveryOutcome.DroppedUnframeable: DroppedUnframeable += count; break;
        }
    }

    public void Add(in DeliveryTally other)
    {
        Accepted += other.Accepted;
        DroppedNewest += other.DroppedNewest;
        DroppedOverflowDisconnect += other.DroppedOverflowDisconnect;
        DroppedClosed += other.DroppedClosed;
        DroppedUnframeable += other.DroppedUnframeable;
    }
}
