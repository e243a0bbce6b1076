using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Gateway.Messaging;

/// <summary>
/// Message totals: what was published, delivered into outboxes, and dropped (by reason). The bus holds the process's
/// totals; each endpoint has its own counters (<see cref="ForEndpoint"/>), which add into the process's as they count.
/// </summary>
/// <remarks>
/// A count is recorded once, at the endpoint it belongs to: a publish at its source's endpoint, a delivery or drop at
/// the subscriber's. The roll-up costs one more interlocked add per record and lets the metrics tag every count by
/// endpoint without summing at scrape time.
/// </remarks>
public sealed class MessageCounters
{
    private readonly MessageCounters? _total;
    private readonly ConcurrentDictionary<string, MessageCounters>? _endpoints;
    private long _published;
    private long _delivered;
    private long _droppedOldest;
    private long _droppedNewest;
    private long _droppedOverflowDisconnect;
    private long _droppedClosed;
    private long _droppedUnframeable;
    private long _unrouted;
    private Histogram<double>? _deliveryLatency;

    /// <summary>The process's totals.</summary>
    public MessageCounters()
    {
        _endpoints = new ConcurrentDictionary<string, MessageCounters>(StringComparer.Ordinal);
    }

    private MessageCounters(string endpoint, MessageCounters total)
    {
        Endpoint = endpoint;
        _total = total;
    }

    /// <summary>The endpoint these counters belong to; null for the process's totals.</summary>
    public string? Endpoint { get; }

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

    /// <summary>The counters of one endpoint, made on first use; asked of the process's totals.</summary>
    public MessageCounters ForEndpoint(string endpoint)
    {
        if (_endpoints is null) throw new InvalidOperationException($"The counters of endpoint '{Endpoint}' hold no other endpoint's; ask the bus's totals.");
        return _endpoints.TryGetValue(endpoint, out var counters)
            ? counters
            : _endpoints.GetOrAdd(endpoint, static (name, total) => new MessageCounters(name, total), this);
    }

    /// <summary>Every endpoint's counters made so far (none on an endpoint's counters).</summary>
    public IEnumerable<MessageCounters> Endpoints => _endpoints?.Values ?? [];

    /// <summary>Records how long this endpoint's messages took from publish to their writer into <paramref name="histogram"/>, this endpoint's own.</summary>
    internal void MeasureDeliveryLatency(Histogram<double> histogram) => Volatile.Write(ref _deliveryLatency, histogram);

    /// <summary>True while someone listens to the delivery latency; an outbox takes the clock only then.</summary>
    internal bool MeasuresDeliveryLatency => _deliveryLatency is { Enabled: true };

    internal void RecordDeliveryLatency(double seconds) => _deliveryLatency?.Record(seconds);

    internal void OnPublished(int count, int unrouted)
    {
        Interlocked.Add(ref _published, count);
        if (unrouted > 0) Interlocked.Add(ref _unrouted, unrouted);
        _total?.OnPublished(count, unrouted);
    }

    /// <summary>Counts deliveries and drops.</summary>
    internal void Add(in DeliveryTally tally)
    {
        if (tally.Accepted > 0) Interlocked.Add(ref _delivered, tally.Accepted);
        if (tally.DroppedNewest > 0) Interlocked.Add(ref _droppedNewest, tally.DroppedNewest);
        if (tally.DroppedOverflowDisconnect > 0) Interlocked.Add(ref _droppedOverflowDisconnect, tally.DroppedOverflowDisconnect);
        if (tally.DroppedClosed > 0) Interlocked.Add(ref _droppedClosed, tally.DroppedClosed);
        if (tally.DroppedUnframeable > 0) Interlocked.Add(ref _droppedUnframeable, tally.DroppedUnframeable);
        _total?.Add(tally);
    }

    public void OnDroppedOldest()
    {
        Interlocked.Increment(ref _droppedOldest);
        _total?.OnDroppedOldest();
    }

    public void OnDropped(DeliveryOutcome outcome)
    {
        var tally = default(DeliveryTally);
        tally.Add(outcome);
        Add(tally);
    }
}
