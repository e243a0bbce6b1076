using System.Threading.Channels;

namespace Gateway.Messaging;

/// <summary>
/// A subscriber's bounded queue between the bus and its writer loop. Accepting a message never blocks
/// the publisher: when full, the configured <see cref="OverflowPolicy"/> decides, and every drop is counted.
/// </summary>
public sealed class Outbox : IMessageSubscriber
{
    private readonly Channel<Message> _channel;
    private readonly OverflowPolicy _policy;
    private readonly Action? _onOverflowDisconnect;
    private volatile bool _completed;
    private int _overflowed;

    /// <param name="onOverflowDisconnect">Called once, on the publisher's thread, when a <see cref="OverflowPolicy.Disconnect"/> outbox overflows; it must not block.</param>
    public Outbox(OutboxOptions options, MessageCounters counters, Action? onOverflowDisconnect = null)
    {
        _policy = options.Overflow;
        _onOverflowDisconnect = onOverflowDisconnect;
        var channelOptions = new BoundedChannelOptions(options.Capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = _policy == OverflowPolicy.DropOldest ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
        };
        _channel = _policy == OverflowPolicy.DropOldest
            ? Channel.CreateBounded<Message>(channelOptions, _ => counters.OnDroppedOldest())
            : Channel.CreateBounded<Message>(channelOptions);
    }

    /// <summary>The writer loop's side: read until completed and empty.</summary>
    public ChannelReader<Message> Reader => _channel.Reader;

    /// <summary>Messages waiting to be written.</summary>
    public int Count => _channel.Reader.Count;

    public DeliveryOutcome Deliver(Message message)
    {
        if (_channel.Writer.TryWrite(message)) return DeliveryOutcome.Accepted;
        if (_completed) return DeliveryOutcome.DroppedClosed;
        if (_policy == OverflowPolicy.DropNewest) return DeliveryOutcome.DroppedNewest;

        if (Interlocked.Exchange(ref _overflowed, 1) == 0)
        {
            Complete();
            _onOverflowDisconnect?.Invoke();
        }

        return DeliveryOutcome.DroppedOverflowDisconnect;
    }

    /// <summary>Accepts nothing more; the reader still drains what is queued.</summary>
    public void Complete()
    {
        _completed = true;
        _channel.Writer.TryComplete();
    }
}
