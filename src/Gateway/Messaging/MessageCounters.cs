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

    internal void OnPublished(int count, int unrouted)
    {
        Interlocked.Add(ref _published, count);
        if (unrouted > 0) Interlocked.Add(ref _unrouted, unrouted);
    }

    /// <summary>Counts the deliveries and drops of one publish.</summary>
    internal void Add(in DeliveryTally tally)
    {
        if (tally.Accepted > 0) Interlocked.Add(ref _delivered, tally.Accepted);
        if (tally.DroppedNewest > 0) Interlocked.Add(ref _droppedNewest, tally.DroppedNewest);
        if (tally.DroppedOverflowDisconnect > 0) Interlocked.Add(ref _droppedOverflowDisconnect, tally.DroppedOverflowDisconnect);
        if (tally.DroppedClosed > 0) Interlocked.Add(ref _droppedClosed, tally.DroppedClosed);
        if (tally.DroppedUnframeable > 0) Interlocked.Add(ref _droppedUnframeable, tally.DroppedUnframeable);
    }

    public void OnDroppedOldest() => Interlocked.Increment(ref _droppedOldest);

    public void OnDropped(DeliveryOutcome outcome)
    {
        var tally = default(DeliveryTally);
        tally.Add(outcome);
        Add(tally);
    }
}
