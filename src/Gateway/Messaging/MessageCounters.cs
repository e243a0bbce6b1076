namespace Gateway.Messaging;

/// <summary>Process-wide message totals: what was published, delivered into outboxes, and dropped (by reason).</summary>
public sealed class MessageCounters
{
    private long _published;
    private long _delivered;
    private long _droppedOldest;
    private long _droppedNewest;
    private long _droppedOverflowDisconnect;
    private long _droppedClosed;
    private long _droppedUnframeable;
    private long _unrouted;

    public long Published => Volatile.Read(ref _published);
    public long Delivered => Volatile.Read(ref _delivered);
    public long DroppedOldest => Volatile.Read(ref _droppedOldest);
    public long DroppedNewest => Volatile.Read(ref _droppedNewest);
    public long DroppedOverflowDisconnect => Volatile.Read(ref _droppedOverflowDisconnect);
    public long DroppedClosed => Volatile.Read(ref _droppedClosed);
    public long DroppedUnframeable => Volatile.Read(ref _droppedUnframeable);

    /// <summary>Published messages that matched no subscriber.</summary>
    public long Unrouted => Volatile.Read(ref _unrouted);

    public long Dropped => DroppedOldest + DroppedNewest + DroppedOverflowDisconnect + DroppedClosed + DroppedUnframeable;

    internal void OnPublished(int matched)
    {
        Interlocked.Increment(ref _published);
        if (matched == 0) Interlocked.Increment(ref _unrouted);
    }

    internal void OnDelivered(int count) => Interlocked.Add(ref _delivered, count);

    public void OnDroppedOldest() => Interlocked.Increment(ref _droppedOldest);

    public void OnDropped(DeliveryOutcome outcome)
    {
        switch (outcome)
        {
            case DeliveryOutcome.DroppedNewest: Interlocked.Increment(ref _droppedNewest); break;
            case DeliveryOutcome.DroppedOverflowDisconnect: Interlocked.Increment(ref _droppedOverflowDisconnect); break;
            case DeliveryOutcome.DroppedClosed: Interlocked.Increment(ref _droppedClosed); break;
            case DeliveryOutcome.DroppedUnframeable: Interlocked.Increment(ref _droppedUnframeable); break;
        }
    }
}
