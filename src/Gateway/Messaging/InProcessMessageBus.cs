using System.Collections.Concurrent;
using Gateway.Protocols.Topics;
using Microsoft.Extensions.Logging;

namespace Gateway.Messaging;

/// <summary>
/// The embedded bus: subscriptions live in this process and a publish hands the message to each
/// matching subscriber's outbox on the publisher's thread, never waiting for a subscriber.
/// </summary>
/// <remarks>
/// Exact filters (most per-connection subscriptions, such as "devices/{connectionId}/down") are found
/// by one dictionary lookup, in a list that a subscribe or unsubscribe changes in constant time
/// (<see cref="SubscriberList{T}"/>); wildcard filters by a walk of the tree of their levels
/// (<see cref="TopicFilterTree{T}"/>), which visits only those that can match, so unrelated subscriptions
/// cost a publish nothing. Neither takes a lock or allocates on a publish.
/// </remarks>
internal sealed partial class InProcessMessageBus(ILogger<InProcessMessageBus> logger) : IMessageBus
{
    private readonly ConcurrentDictionary<string, SubscriberList<Subscription>> _exact = new(StringComparer.Ordinal);
    private readonly TopicFilterTree<Subscription> _wildcards = new();
    private readonly Lock _gate = new();

    public MessageCounters Counters { get; } = new();

    public int Publish(Message message) => Publish(new ReadOnlySpan<Message>(in message));

    public int Publish(ReadOnlySpan<Message> messages)
    {
        var totalMatched = 0;
        MessageCounters? sourceCounters = null;
        while (!messages.IsEmpty)
        {
            var run = TakeRunOnOneTopic(ref messages);
            var topic = run[0].Topic;
            var matched = 0;
            if (_exact.TryGetValue(topic, out var list))
            {
                var exact = list.Read();
                for (var i = 0; i < exact.Length; i++)
                {
                    // A fan-out reads each subscription and its subscriber once, and both are cold: each one's line is
                    // asked for a few subscribers ahead, so the misses overlap instead of following one another.
                    if (i + 4 < exact.Length) CacheHint.Prefetch(exact[i + 4]);
                    if (i + 2 < exact.Length && exact[i + 2] is { } soon) CacheHint.Prefetch(soon.Subscriber);
                    if (exact[i] is { } subscription) Deliver(subscription, run, ref matched); // null: unsubscribed
                }
            }

            var wildcards = new WildcardDelivery(this, run);
            _wildcards.Match(topic, ref wildcards);
            matched += wildcards.Matched;

            totalMatched += matched * run.Length;
            // The messages of one call nearly always come from one connection, so its endpoint is looked up once.
            var source = run[0].SourceEndpoint;
            if (sourceCounters?.Endpoint != source) sourceCounters = Counters.ForEndpoint(source);
            sourceCounters.OnPublished(run.Length, matched == 0 ? run.Length : 0);
        }

        return totalMatched;
    }

    /// <summary>
    /// Hands <paramref name="message"/> to the subscriptions made with exactly <paramref name="filter"/>, not to others
    /// whose filters match its topic too: a backplane receives a message once per subscription it holds on the broker,
    /// one per local filter, and each copy goes to that filter's subscribers, so nobody receives it twice. Counted as
    /// deliveries, not as a publish here. Returns how many subscribers took it.
    /// </summary>
    internal int DeliverToFilter(TopicFilter filter, Message message)
    {
        var run = new ReadOnlySpan<Message>(in message);
        var matched = 0;
        if (!filter.IsWildcard)
        {
            if (_exact.TryGetValue(filter.Value, out var list))
            {
                foreach (var subscription in list.Read())
                {
                    if (subscription is not null) Deliver(subscription, run, ref matched);
                }
            }
        }
        else
        {
            foreach (var subscription in _wildcards.ValuesOf(filter))
                Deliver(subscription, run, ref matched);
        }

        return matched;
    }

    /// <summary>Splits off the leading messages that share the first one's topic.</summary>
    private static ReadOnlySpan<Message> TakeRunOnOneTopic(ref ReadOnlySpan<Message> messages)
    {
        var topic = messages[0].Topic;
        var length = 1;
        // A connection publishes every frame to one string instance, so the reference test usually decides.
        while (length < messages.Length && (ReferenceEquals(messages[length].Topic, topic) || messages[length].Topic == topic))
            length++;

        var run = messages[..length];
        messages = messages[length..];
        return run;
    }

    private void Deliver(Subscription subscription, ReadOnlySpan<Message> run, ref int matched)
    {
        if (!subscription.IsObserver) matched++;
        var outcomes = default(DeliveryTally);
        try
        {
            subscription.Subscriber.DeliverAll(run, ref outcomes);
        }
        catch (Exception ex)
        {
            // A faulty subscriber must not stop delivery to the others; what it had not taken is dropped for it.
            LogSubscriberFault(logger, subscription.Filter.Value, ex);
            outcomes.Add(DeliveryOutcome.DroppedClosed, run.Length - outcomes.Total);
        }

        if (!subscription.IsObserver) (subscription.Counters ?? Counters).Add(outcomes);
    }

    public IDisposable Subscribe(TopicFilter filter, IMessageSubscriber subscriber)
    {
        var subscription = new Subscription(this, filter, subscriber);
        lock (_gate)
        {
            if (filter.IsWildcard)
                _wildcards.Add(filter, subscription);
            else
                _exact.GetOrAdd(filter.Value, static _ => new SubscriberList<Subscription>()).Add(subscription);
        }

        return subscription;
    }

    private void Remove(Subscription subscription)
    {
        lock (_gate)
        {
            if (subscription.Filter.IsWildcard)
            {
                _wildcards.Remove(subscription.Filter, subscription);
            }
            else if (_exact.TryGetValue(subscription.Filter.Value, out var list) && list.Remove(subscription) && list.Live == 0)
            {
                // A publisher that found the list a moment ago delivers to no one; the next subscribe makes a new one.
                _exact.TryRemove(subscription.Filter.Value, out _);
            }
        }
    }

    /// <summary>Delivers a run of messages to each wildcard subscription the tree finds for their topic.</summary>
    private ref struct WildcardDelivery(InProcessMessageBus bus, ReadOnlySpan<Message> run) : TopicFilterTree<Subscription>.IVisitor
    {
        private readonly ReadOnlySpan<Message> _run = run;

        public int Matched;

        public void Visit(Subscription[] subscriptions)
        {
            foreach (var subscription in subscriptions)
                bus.Deliver(subscription, _run, ref Matched);
        }
    }

    [LoggerMessage(EventId = LogEventIds.Messaging, EventName = "SubscriberFault", Level = LogLevel.Error, Message = "Subscriber of '{Filter}' threw while a message was delivered; the message was dropped for it.")]
    private static partial void LogSubscriberFault(ILogger logger, string filter, Exception exception);

    private sealed class Subscription(InProcessMessageBus bus, TopicFilter filter, IMessageSubscriber subscriber) : IDisposable, ISubscriberListItem
    {
        private int _disposed;

        public int Slot { get; set; } = -1;

        public TopicFilter Filter { get; } = filter;

        public IMessageSubscriber Subscriber { get; } = subscriber;

        public bool IsObserver { get; } = subscriber.IsObserver;

        public MessageCounters? Counters { get; } = subscriber.Counters;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) bus.Remove(this);
        }
    }
}
