using Gateway.Messaging;

namespace Gateway.Routing;

/// <summary>
/// A route's bounded queue, its window of messages in flight and its accounting, under one lock, so that at any moment
/// <c>matched = succeeded + failed + in flight + queued + dropped</c> holds exactly (<see cref="Snapshot"/>).
/// </summary>
/// <remarks>
/// With <see cref="RouteOrdering.PerTopic"/>, a message is taken only while no other message of its topic is in flight,
/// so each topic's messages reach the upstream one after the other; the queue is then scanned past messages whose
/// topic is busy. A message put back (its upstream unavailable) goes to the front, ahead of its topic's later ones.
/// </remarks>
internal sealed class RouteQueue(OutboxOptions options, int maxInFlight, RouteOrdering ordering, TimeSpan ttl)
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Message> _queued = new();
    private readonly HashSet<string> _busyTopics = new(StringComparer.Ordinal);
    private readonly int _capacity = options.Capacity;
    private readonly long _ttlTicks = ttl.Ticks;
    private bool _closed;
    private RouteCounts _counts;

    /// <summary>
    /// Queues a matched message. When the queue is full, the overflow policy discards the oldest queued message or this
    /// one; the discarded message is returned for the dead-letter topic. After <see cref="Close"/>, the message itself is.
    /// </summary>
    public Message? Enqueue(Message message, out bool accepted)
    {
        lock (_lock)
        {
            _counts.Matched++;
            if (_closed)
            {
                _counts.DroppedShutdown++;
                accepted = false;
                return message;
            }

            Message? discarded = null;
            if (_queued.Count >= _capacity)
            {
                _counts.DroppedQueueFull++;
                if (options.Overflow == OverflowPolicy.DropNewest)
                {
                    accepted = false;
                    return message;
                }

                discarded = _queued.First!.Value;
                _queued.RemoveFirst();
            }

            _queued.AddLast(message);
            accepted = true;
            return discarded;
        }
    }

    /// <summary>
    /// Takes the next message to send, when the window has room and one may go; it is then in flight. A message whose
    /// TTL has passed is taken out too, counted as dropped, and returned with <paramref name="expired"/> set.
    /// </summary>
    public bool TryTake(long nowTicks, out Message message, out bool expired)
    {
        lock (_lock)
        {
            expired = false;
            for (var node = _queued.First; node is not null; node = node.Next)
            {
                var candidate = node.Value;
                if (nowTicks - candidate.Timestamp.UtcTicks > _ttlTicks)
                {
                    _queued.Remove(node);
                    _counts.DroppedExpired++;
                    message = candidate;
                    expired = true;
                    return true;
                }

                if (_counts.InFlight >= maxInFlight) break;
                if (ordering == RouteOrdering.PerTopic && !_busyTopics.Add(candidate.Topic)) continue;
                _queued.Remove(node);
                _counts.InFlight++;
                message = candidate;
                return true;
            }

            message = null!;
            return false;
        }
    }

    /// <summary>Takes out the oldest queued message if its TTL has passed (while nothing can be sent), counted as dropped.</summary>
    public bool TryExpireOldest(long nowTicks, out Message message)
    {
        lock (_lock)
        {
            if (_queued.First is { } first && nowTicks - first.Value.Timestamp.UtcTicks > _ttlTicks)
            {
                _queued.RemoveFirst();
                _counts.DroppedExpired++;
                message = first.Value;
                return true;
            }

            message = null!;
            return false;
        }
    }

    /// <summary>A message in flight has its outcome: it leaves the window, and its topic may send the next.</summary>
    public void Complete(Message message, RouteOutcome outcome)
    {
        lock (_lock)
        {
            Release(message);
            switch (outcome)
            {
                case RouteOutcome.Succeeded: _counts.Succeeded++; break;
                case RouteOutcome.Failed: _counts.Failed++; break;
                case RouteOutcome.Expired: _counts.DroppedExpired++; break;
                case RouteOutcome.Shutdown: _counts.DroppedShutdown++; break;
            }
        }
    }

    /// <summary>A message in flight goes back to the front of the queue: the upstream could not take it now.</summary>
    public void PutBack(Message message)
    {
        lock (_lock)
        {
            Release(message);
            _queued.AddFirst(message);
        }
    }

    private void Release(Message message)
    {
        _counts.InFlight--;
        if (ordering == RouteOrdering.PerTopic) _busyTopics.Remove(message.Topic);
    }

    /// <summary>Accepts nothing more and takes out every queued message, counted as dropped at shutdown.</summary>
    public List<Message> Close()
    {
        lock (_lock)
        {
            _closed = true;
            var left = new List<Message>(_queued);
            _queued.Clear();
            _counts.DroppedShutdown += left.Count;
            return left;
        }
    }

    /// <summary>Counts a dead-lettered message (one of those dropped or failed).</summary>
    public void OnDeadLettered()
    {
        lock (_lock) _counts.DeadLettered++;
    }

    /// <summary>Every count at one moment; the identity holds within it.</summary>
    public RouteCounts Snapshot()
    {
        lock (_lock)
        {
            var counts = _counts;
            counts.Queued = _queued.Count;
            return counts;
        }
    }
}

/// <summary>How a message that was in flight ended.</summary>
internal enum RouteOutcome
{
    Succeeded,
    Failed,
    Expired,
    Shutdown,
}

/// <summary>
/// A route's counts at one moment. <see cref="Matched"/> = <see cref="Succeeded"/> + <see cref="Failed"/> +
/// <see cref="InFlight"/> + <see cref="Queued"/> + <see cref="Dropped"/>; dead letters are some of the failed and dropped.
/// </summary>
internal struct RouteCounts
{
    public long Matched;
    public long Succeeded;
    public long Failed;
    public int InFlight;
    public int Queued;
    public long DroppedQueueFull;
    public long DroppedExpired;
    public long DroppedShutdown;
    public long DeadLettered;

    public readonly long Dropped => DroppedQueueFull + DroppedExpired + DroppedShutdown;

    /// <summary>The drop reasons as the metrics and the admin API name them.</summary>
    public readonly (string Reason, long Count)[] DropsByReason =>
        [("queue_full", DroppedQueueFull), ("expired", DroppedExpired), ("shutdown", DroppedShutdown)];
}
