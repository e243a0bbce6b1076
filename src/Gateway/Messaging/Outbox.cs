using System.Threading.Tasks.Sources;

namespace Gateway.Messaging;

/// <summary>
/// A subscriber's bounded queue between the bus and its writer loop. Accepting a message never blocks
/// the publisher: when full, the configured <see cref="OverflowPolicy"/> decides, and every drop is counted.
/// </summary>
/// <remarks>
/// One reader (the connection's write loop) awaits <see cref="WaitToReadAsync"/>. A publish that finds it
/// waiting wakes it through <see cref="DeliveryBatch"/>: inside a batch (one socket read's worth of frames)
/// the wake-up is deferred to the batch's end, so the writer flushes once for all of them; it then runs
/// inline on the publishing thread instead of hopping to the thread pool.
/// </remarks>
public sealed class Outbox : IMessageSubscriber, IValueTaskSource<bool>
{
    private readonly Lock _lock = new();
    private readonly Message[] _ring;
    private readonly OverflowPolicy _policy;
    private readonly MessageCounters _counters;
    private readonly Action? _onOverflowDisconnect;
    private ManualResetValueTaskSourceCore<bool> _signal; // mutable struct: never copy, never readonly
    private int _head;
    private int _count;
    private bool _completed;
    private bool _readerWaiting;

    /// <param name="onOverflowDisconnect">Called once, on the publisher's thread, when a <see cref="OverflowPolicy.Disconnect"/> outbox overflows; it must not block.</param>
    public Outbox(OutboxOptions options, MessageCounters counters, Action? onOverflowDisconnect = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Capacity);
        _ring = new Message[options.Capacity];
        _policy = options.Overflow;
        _counters = counters;
        _onOverflowDisconnect = onOverflowDisconnect;
        _signal.RunContinuationsAsynchronously = false;
    }

    /// <summary>Messages waiting to be written.</summary>
    public int Count
    {
        get { lock (_lock) return _count; }
    }

    public DeliveryOutcome Deliver(Message message)
    {
        bool wake;
        var overflowed = false;
        lock (_lock)
        {
            if (_completed) return DeliveryOutcome.DroppedClosed;
            if (_count == _ring.Length)
            {
                if (_policy == OverflowPolicy.DropNewest) return DeliveryOutcome.DroppedNewest;
                if (_policy == OverflowPolicy.Disconnect)
                {
                    _completed = true;
                    overflowed = true;
                }
                else
                {
                    // Drop the oldest: the head moves on and the new message takes the freed place.
                    _ring[_head] = null!;
                    _head = (_head + 1) % _ring.Length;
                    _count--;
                    _counters.OnDroppedOldest();
                }
            }

            if (!overflowed)
            {
                _ring[(_head + _count) % _ring.Length] = message;
                _count++;
            }

            wake = _readerWaiting;
            _readerWaiting = false;
        }

        if (overflowed)
        {
            // The subscriber cannot keep up: it gets nothing more, its reader drains what is queued,
            // and its owner is told once, outside the lock, so it can disconnect.
            if (wake) Signal();
            _onOverflowDisconnect?.Invoke();
            return DeliveryOutcome.DroppedOverflowDisconnect;
        }

        if (wake) DeliveryBatch.Wake(this);
        return DeliveryOutcome.Accepted;
    }

    /// <summary>Takes the oldest queued message; the single reader's side.</summary>
    public bool TryRead(out Message message)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                message = null!;
                return false;
            }

            message = _ring[_head];
            _ring[_head] = null!;
            _head = (_head + 1) % _ring.Length;
            _count--;
            return true;
        }
    }

    /// <summary>True when a message can be read; false once the outbox is completed and empty.</summary>
    public ValueTask<bool> WaitToReadAsync()
    {
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

    /// <summary>Resumes the waiting reader; called by <see cref="DeliveryBatch"/> exactly once per wait.</summary>
    internal void Signal() => _signal.SetResult(true);

    bool IValueTaskSource<bool>.GetResult(short token) => _signal.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _signal.GetStatus(token);

    void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _signal.OnCompleted(continuation, state, token, flags);
}
