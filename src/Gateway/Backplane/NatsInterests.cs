using System.Threading.Channels;
using Gateway.Protocols.Topics;
using NATS.Client.Core;

namespace Gateway.Backplane;

/// <summary>
/// The local filters this instance holds NATS subscriptions for: one subscription (two for a filter ending in <c>#</c>)
/// per distinct filter, counted, opened with its first local subscriber and closed after its last.
/// </summary>
/// <remarks>
/// Subscribing never waits for NATS: <see cref="Add"/> counts, and the first local subscriber of a filter (or the last
/// one leaving) queues a change that <see cref="ApplyChangesAsync"/> applies, one at a time, so neither a subscriber
/// nor a publisher ever waits for NATS to take a subscription. The client registers each subscription and sends it
/// again whenever it reconnects.
/// </remarks>
internal sealed partial class NatsInterests(NatsLink link, ILogger logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Interest> _interests = new(StringComparer.Ordinal);
    private readonly Channel<Interest> _changes = Channel.CreateUnbounded<Interest>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Counts one local subscriber of <paramref name="filter"/>; the first one subscribes on NATS, and disposing the last one's handle unsubscribes.</summary>
    public IDisposable Add(TopicFilter filter)
    {
        lock (_lock)
        {
            if (!_interests.TryGetValue(filter.Value, out var interest))
            {
                interest = new Interest(filter);
                _interests.Add(filter.Value, interest);
            }

            if (++interest.Count == 1) _changes.Writer.TryWrite(interest);
            return new InterestShare(this, interest);
        }
    }

    private void Remove(Interest interest)
    {
        lock (_lock)
        {
            if (--interest.Count == 0) _changes.Writer.TryWrite(interest);
        }
    }

    /// <summary>Applies the changes one at a time: subscribes a filter that gained its first local subscriber, unsubscribes one that lost its last.</summary>
    public async Task ApplyChangesAsync(CancellationToken stopping)
    {
        try
        {
            await foreach (var interest in _changes.Reader.ReadAllAsync(stopping))
            {
                bool wanted;
                lock (_lock) wanted = interest.Count > 0;

                if (wanted && interest.Subscriptions is null)
                    interest.Subscriptions = await OpenAsync(interest.Filter, stopping);
                else if (!wanted && interest.Subscriptions is { } subscriptions)
                    await CloseAsync(interest, subscriptions);

                lock (_lock)
                {
                    if (interest.Count == 0 && interest.Subscriptions is null && _interests.TryGetValue(interest.Filter.Value, out var current) && current == interest)
                        _interests.Remove(interest.Filter.Value);
                }
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    private async Task<InterestSubscription[]> OpenAsync(TopicFilter filter, CancellationToken stopping)
    {
        if (!NatsSubject.TryFromFilter(link.Options.SubjectPrefix, filter, out var subjects))
        {
            LogFilterWithoutSubject(logger, filter.Value);
            return [];
        }

        var opened = new InterestSubscription[subjects.Length];
        for (var i = 0; i < subjects.Length; i++)
        {
            opened[i] = new InterestSubscription(link.Connection, subjects[i], filter, link);
            // Registered with the client first: it sends the SUB now, or with every other one when it (re)connects.
            await link.Connection.AddSubAsync(opened[i], stopping);
        }

        link.Counters.OnSubscriptions(opened.Length);
        return opened;
    }

    private async Task CloseAsync(Interest interest, InterestSubscription[] subscriptions)
    {
        interest.Subscriptions = null;
        foreach (var subscription in subscriptions)
            await subscription.UnsubscribeAsync();
        link.Counters.OnSubscriptions(-subscriptions.Length);
    }

    /// <summary>One local filter: how many local subscribers share it, and its NATS subscriptions (the apply loop's).</summary>
    private sealed class Interest(TopicFilter filter)
    {
        public TopicFilter Filter { get; } = filter;

        /// <summary>Under the table's lock.</summary>
        public int Count;

        /// <summary>Null while not subscribed; empty when the filter has no subject.</summary>
        public InterestSubscription[]? Subscriptions;
    }

    /// <summary>One subscriber's share of an interest; disposing it twice releases it once.</summary>
    private sealed class InterestShare(NatsInterests table, Interest interest) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) table.Remove(interest);
        }
    }

    [LoggerMessage(EventId = LogEventIds.Backplane + 3, EventName = "BackplaneFilterWithoutSubject", Level = LogLevel.Warning,
        Message = "Backplane cannot subscribe to '{Filter}' on NATS: escaped, it is longer than a NATS subject may be. Its subscribers receive local messages only.")]
    private static partial void LogFilterWithoutSubject(ILogger logger, string filter);
}
