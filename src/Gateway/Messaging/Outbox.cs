using System.Buffers;
using System.Threading.Tasks.Sources;
using Gateway.Observability;

namespace Gateway.Messaging;

/// <summary>
/// A subscriber's bounded queue between the bus and its writer loop. Accepting a message never blocks
/// the publisher: when full, the configured <see cref="OverflowPolicy"/> decides, and every drop is counted.
/// </summary>
/// <remarks>
/// One reader (the connection's write loop) awaits <see cref="WaitToReadAsync"/> and takes messages with
/// <see cref="TryRead"/>, which moves up to <see cref="ReadBatchSize"/> of them out under one lock; publishers
/// take the lock once per <see cref="DeliverAll"/>, the messages of one socket read. A message moved
/// out is the writer's, as if written, and no longer counts against the capacity. A publish that finds it
/// waiting wakes it through <see cref="DeliveryBatch"/>: inside a batch (one socket read's worth of frames)
/// the wake-up is deferred to the batch's end, so the writer flushes once for all of them; it then runs
/// inline on the publishing thread instead of hopping to the thread pool. With an <see cref="IOutboxWriter"/> the
/// reader is not even resumed: the writer takes and writes the messages in its place, on that thread, and the reader
/// is woken only for what the writer leaves.
/// <para>A subscriber holds no arrays until its first message, and then only small ones: the ring and the reader's
/// batch array start at <see cref="SmallArraySize"/> slots, made once and kept, so a light flow (a message at a time)
/// allocates nothing. A backlog grows the ring by doubling, up to the capacity, on arrays rented from the pool, and
/// the reader takes up to <see cref="ReadBatchSize"/> at a time into a rented array; both go back once drained.
/// Thousands of idle connections then cost their objects, not their capacity.</para>
/// </remarks>
public sealed class Outbox : IMessageSubscriber, IValueTaskSource<bool>
{
    /// <summary>Most messages the reader takes under one lock.</summary>
    public const int ReadBatchSize = 64;

    /// <summary>Slots of the ring and of the reader's batch array that an outbox keeps once it has had a message.</summary>
    internal const int SmallArraySize = 16;

    private static ArrayPool<Message> Pool => ArrayPool<Message>.Shared;

    private readonly Lock _lock = new();
    private readonly int _capacity;
    private Message[] _ring = []; // the small ring, or one rented while a backlog lasts; empty before the first message
    private int _ringSize; // slots of _ring used as the ring: the array may be longer, the ring never exceeds the capacity
    private Message[]? _smallRing;
    private Message[]? _taken; // the reader's: moved out of the ring, not yet returned by TryRead
    private Message[]? _smallTaken;
    private int _takenIndex;
    private int _takenCount;
    private readonly OverflowPolicy _policy;
    private readonly MessageCounters _counters;
    private readonly Action? _onOverflowDisconnect;
    private ManualResetValueTaskSourceCore<bool> _signal; // mutable struct: never copy, never readonly
    private int _head;
    private int _count;
    private bool _completed;
    private bool _readerWaiting;
    private long _takenAtTicks; // when the reader took its batch, for the delivery latency; 0 when nobody measures it
    private IOutboxWriter? _writer;

    /// <param name="counters">The subscriber's endpoint's counters (<see cref="MessageCounters.ForEndpoint"/>): its deliveries and drops are counted there.</param>
    /// <param name="onOverflowDisconnect">Called once, on the publisher's thread, when a <see cref="OverflowPolicy.Disconnect"/> outbox overflows; it must not block.</param>
    public Outbox(OutboxOptions options, MessageCounters counters, Action? onOverflowDisconnect = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Capacity);
        _capacity = options.Capacity;
        _policy = options.Overflow;
        _counters = counters;
        _onOverflowDisconnect = onOverflowDisconnect;
        _signal.RunContinuationsAsynchronously = false;
    }

    /// <summary>Its endpoint's counters, where its deliveries and drops are counted.</summary>
    public MessageCounters Counters => _counters;

    /// <summary>Messages waiting to be written, including those the reader has taken but not yet returned.</summary>
    public int Count
    {
        get { lock (_lock) return _count + Volatile.Read(ref _takenCount) - Volatile.Read(ref _takenIndex); }
    }

    /// <summary>Slots of the arrays it holds: none before its first message, the two small ones once drained.</summary>
    internal int HeldSlots
    {
        get
        {
            lock (_lock)
            {
                var ring = ReferenceEquals(_ring, _smallRing) ? 0 : _ring.Length;
                var taken = _taken is { } batch && !ReferenceEquals(batch, _smallTaken) ? batch.Length : 0;
                return ring + taken + (_smallRing?.Length ?? 0) + (_smallTaken?.Length ?? 0);
            }
        }
    }

    public DeliveryOutcome Deliver(Message message)
    {
        var wake = false;
        DeliveryOutcome outcome;
        lock (_lock)
            outcome = EnqueueLocked(message, ref wake);

        AfterEnqueue(wake, overflowed: outcome == DeliveryOutcome.DroppedOverflowDisconnect);
        return outcome;
    }

    /// <summary>Queues the messages in order under one lock, with the overflow policy applied to each.</summary>
    public void DeliverAll(ReadOnlySpan<Message> messages, ref DeliveryTally tally)
    {
        var wake = false;
        var overflowed = false;
        lock (_lock)
        {
            foreach (var message in messages)
            {
                var outcome = EnqueueLocked(message, ref wake);
                overflowed |= outcome == DeliveryOutcome.DroppedOverflowDisconnect;
                tally.Add(outcome);
            }
        }

        AfterEnqueue(wake, overflowed);
    }

    private void AfterEnqueue(bool wake, bool overflowed)
    {
        if (overflowed)
        {
            // The subscriber cannot keep up: it gets nothing more, its reader drains what is queued,
            // and its owner is told once, outside the lock, so it can disconnect.
            if (wake) Signal();
            _onOverflowDisconnect?.Invoke();
        }
        else if (wake)
        {
            DeliveryBatch.Wake(this);
        }
    }

    /// <summary>Applies the overflow policy and queues the message; sets <paramref name="wake"/> when the reader waits for it.</summary>
    private DeliveryOutcome EnqueueLocked(Message message, ref bool wake)
    {
        if (_completed) return DeliveryOutcome.DroppedClosed;
        if (_count == _ringSize && _ringSize < _capacity) GrowRingLocked();
        if (_count == _ringSize)
        {
            if (_policy == OverflowPolicy.DropNewest) return DeliveryOutcome.DroppedNewest;
            if (_policy == OverflowPolicy.Disconnect)
            {
                _completed = true;
                TakeReaderWaiting(ref wake);
                return DeliveryOutcome.DroppedOverflowDisconnect;
            }

            // Drop the oldest: the head moves on and the new message takes the freed place.
            _ring[_head] = null!;
            _head = Next(_head);
            _count--;
            _counters.OnDroppedOldest();
        }

        var tail = _head + _count;
        _ring[tail < _ringSize ? tail : tail - _ringSize] = message;
        _count++;
        TakeReaderWaiting(ref wake);
        return DeliveryOutcome.Accepted;
    }

    /// <summary>Moves the queued messages, oldest first, into the small ring or one twice the size (at most the capacity).</summary>
    private void GrowRingLocked()
    {
        var ring = _ringSize == 0
            ? _smallRing ??= new Message[Math.Min(SmallArraySize, _capacity)]
            : Pool.Rent(Math.Min(_capacity, _ringSize * 2));
        for (var i = 0; i < _count; i++)
        {
            ring[i] = _ring[_head];
            _ring[_head] = null!;
            _head = Next(_head);
        }

        DropRingLocked();
        _ring = ring;
        _ringSize = Math.Min(ring.Length, _capacity);
    }

    /// <summary>Leaves no ring; a rented one (empty) goes back to the pool, the small one stays this outbox's.</summary>
    private void DropRingLocked()
    {
        if (_ring.Length > 0 && !ReferenceEquals(_ring, _smallRing)) Pool.Return(_ring);
        _ring = [];
        _ringSize = 0;
        _head = 0;
    }

    private void TakeReaderWaiting(ref bool wake)
    {
        wake |= _readerWaiting;
        _readerWaiting = false;
    }

    /// <summary>Takes the oldest queued message; the single reader's side.</summary>
    public bool TryRead(out Message message)
    {
        if (_takenIndex == _takenCount && !TakeBatch())
        {
            message = null!;
            return false;
        }

        var taken = _taken!;
        message = taken[_takenIndex];
        taken[_takenIndex++] = null!;
        if (_takenAtTicks != 0) _counters.RecordDeliveryLatency((_takenAtTicks - message.Timestamp.UtcTicks) / (double)TimeSpan.TicksPerSecond);
        if (message.PublishActivity is { } published) MessageTracing.Delivered(published, message, _counters.Endpoint);
        return true;
    }

    private bool TakeBatch()
    {
        // One clock reading serves the whole batch: the messages are written together, right after.
        _takenAtTicks = _counters.MeasuresDeliveryLatency ? DateTime.UtcNow.Ticks : 0;
        lock (_lock)
        {
            // The reader has read the whole batch before: a rented batch array goes back to the pool.
            if (_taken is { } read && !ReferenceEquals(read, _smallTaken)) Pool.Return(read);
            _taken = null;
            _takenIndex = 0;
            _takenCount = 0;
            if (_count == 0) return false;

            var taken = Math.Min(_count, ReadBatchSize);
            var batch = taken <= SmallArraySize ? _smallTaken ??= new Message[SmallArraySize] : Pool.Rent(ReadBatchSize);
            for (var i = 0; i < taken; i++)
            {
                batch[i] = _ring[_head];
                _ring[_head] = null!;
                _head = Next(_head);
            }

            _count -= taken;
            _taken = batch;
            _takenCount = taken;
            if (_count == 0 && !ReferenceEquals(_ring, _smallRing)) DropRingLocked();
            return true;
        }
    }

    private int Next(int index) => index + 1 == _ringSize ? 0 : index + 1;

    /// <summary>True when a message can be read; false once the outbox is completed and empty.</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
        if (_takenIndex < _takenCount) return new ValueTask<bool>(true);
        lock (_lock)
        {
            if (_count > 0) return new ValueTask<bool>(true);
            if (_completed) return new ValueTask<bool>(false);
            _signal.Reset();
            _readerWaiting = true;
        }

        return new ValueTask<bool>(this, _signal.Version);
    }

    /// <summary>Accepts nothing more; the reader still drains what is queued.</summary>
    public void Complete()
    {
        bool wake;
        lock (_lock)
        {
            if (_completed) return;
            _completed = true;
            wake = _readerWaiting;
            _readerWaiting = false;
        }

        if (wake) Signal();
    }

    /// <summary>
    /// Lets <paramref name="writer"/> write on the delivering thread what arrives while the reader waits, in place of
    /// waking the reader; what it leaves, the reader is woken for.
    /// </summary>
    public void WriteInPlaceOfWaking(IOutboxWriter writer) => _writer = writer;

    /// <summary>Signals each of <paramref name="outboxes"/> in turn: the wake-ups a delivery batch deferred.</summary>
    internal static void SignalAll(List<Outbox> outboxes)
    {
        for (var i = 0; i < outboxes.Count; i++)
        {
            // After a fan-out, each outbox's writer and the outbox's own lock and arrays are cold: their lines are asked
            // for a few outboxes ahead, so the misses of 1,000 subscribers overlap instead of following one another.
            if (i + 4 < outboxes.Count) CacheHint.Prefetch(outboxes[i + 4]._writer);
            if (i + 2 < outboxes.Count)
            {
                var next = outboxes[i + 2];
                CacheHint.Prefetch(next._lock);
                CacheHint.Prefetch(next._taken);
                CacheHint.Prefetch(next._ring);
            }

            outboxes[i].Signal();
        }
    }

    /// <summary>Resumes the waiting reader, or has the writer write in its place; called by <see cref="DeliveryBatch"/> exactly once per wait.</summary>
    internal void Signal()
    {
        if (_writer?.TryWriteNow() == true && KeepWaiting()) return;
        _signal.SetResult(true);
    }

    /// <summary>Marks the reader waiting again after the writer wrote in its place; false when there is more for it.</summary>
    private bool KeepWaiting()
    {
        lock (_lock)
        {
            if (_count > 0 || _completed || _takenIndex < _takenCount) return false;
            _readerWaiting = true;
            return true;
        }
    }

    bool IValueTaskSource<bool>.GetResult(short token) => _signal.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
