using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Protocols.Topics;

namespace Gateway.Http.Sse;

/// <summary>
/// Keeps the last messages of each topic that an event stream's filter covers, so a client reconnecting
/// with <c>Last-Event-ID</c> receives what it missed.
/// </summary>
/// <remarks>
/// Only filters that streams use are recorded: a stream's filter starts recording when it opens and keeps
/// recording for <see cref="ServerSentEventsOptions.HistoryRetention"/> after the last stream with that
/// filter closed. Topics nobody streams cost nothing on the publish path.
/// </remarks>
internal sealed class TopicHistory(IMessageBus bus, IOptions<GatewayOptions> options, TimeProvider time) : IMessageSubscriber
{
    private readonly ServerSentEventsOptions _options = options.Value.Http.Sse;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Recording> _recordings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, LinkedListNode<TopicRing>> _topics = new(StringComparer.Ordinal);
    private readonly LinkedList<TopicRing> _leastRecentlyUsed = new();

    public bool Enabled => _options.HistoryPerTopic > 0;

    public bool IsObserver => true;

    /// <summary>Starts (or keeps) recording <paramref name="filter"/> until the returned lease is disposed and the retention has passed.</summary>
    public IDisposable Record(TopicFilter filter)
    {
        lock (_lock)
        {
            ForgetExpiredRecordings();
            if (!_recordings.TryGetValue(filter.Value, out var recording))
            {
                recording = new Recording();
                _recordings.Add(filter.Value, recording);
                recording.Subscription = bus.Subscribe(filter, this);
            }

            recording.Leases++;
            return new Lease(this, recording);
        }
    }

    /// <summary>The recorded messages on topics matching <paramref name="filter"/> with an id above <paramref name="afterId"/>, oldest first.</summary>
    public List<Message> Since(TopicFilter filter, long afterId)
    {
        var found = new List<Message>();
        lock (_lock)
        {
            foreach (var ring in _leastRecentlyUsed)
            {
                if (filter.Matches(ring.Topic)) ring.CollectAfter(afterId, found);
            }
        }

        found.Sort(static (a, b) => a.Id.CompareTo(b.Id));
        return found;
    }

    public DeliveryOutcome Deliver(Message message)
    {
        lock (_lock)
        {
            if (_topics.TryGetValue(message.Topic, out var node))
            {
                _leastRecentlyUsed.Remove(node);
                _leastRecentlyUsed.AddLast(node);
            }
            else
            {
                if (_topics.Count >= _options.MaxHistoryTopics && _leastRecentlyUsed.First is { } oldest)
                {
                    _topics.Remove(oldest.Value.Topic);
                    _leastRecentlyUsed.RemoveFirst();
                }

                node = _leastRecentlyUsed.AddLast(new TopicRing(message.Topic, _options.HistoryPerTopic));
                _topics.Add(message.Topic, node);
            }

            node.Value.Append(message);
        }

        return DeliveryOutcome.Accepted;
    }

    private void Release(Recording recording)
    {
        lock (_lock)
        {
            recording.Leases--;
            recording.ReleasedAt = time.GetUtcNow();
            ForgetExpiredRecordings();
        }
    }

    private void ForgetExpiredRecordings()
    {
        var now = time.GetUtcNow();
        List<string>? expired = null;
        foreach (var (key, recording) in _recordings)
        {
            if (recording.Leases == 0 && now - recording.ReleasedAt >= _options.HistoryRetention)
                (expired ??= []).Add(key);
        }

        if (expired is null) return;
        foreach (var key in expired)
        {
            _recordings.Remove(key, out var recording);
            recording!.Subscription?.Dispose();
        }
    }

    /// <summary>A recorded filter's bus subscription and how many open streams use it.</summary>
    private sealed class Recording
    {
        public IDisposable? Subscription { get; set; }

        public int Leases { get; set; }

        public DateTimeOffset ReleasedAt { get; set; }
    }

    /// <summary>One stream's claim on a recording.</summary>
    private sealed class Lease(TopicHistory history, Recording recording) : IDisposable
    {
        private int _disposed;

        // A second Dispose must not release another stream's claim.
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0) history.Release(recording);
        }
    }

    /// <summary>The last messages of one topic, oldest first.</summary>
    private sealed class TopicRing(string topic, int capacity)
    {
        private readonly Message[] _items = new Message[capacity];
        private int _start;
        private int _count;

        public string Topic { get; } = topic;

        public void Append(Message message)
        {
            // Overlapping recorded filters ("a/#" and "a/+") hand the same message over more than once.
            if (_count > 0 && ReferenceEquals(_items[(_start + _count - 1) % _items.Length], message)) return;

            if (_count == _items.Length)
            {
                _items[_start] = message;
                _start = (_start + 1) % _items.Length;
            }
            else
            {
                _items[(_start + _count) % _items.Length] = message;
                _count++;
            }
        }

        public void CollectAfter(long afterId, List<Message> into)
        {
            for (var i = 0; i < _count; i++)
            {
                var message = _items[(_start + i) % _items.Length];
                if (message.Id > afterId) into.Add(message);
            }
        }
    }
}
