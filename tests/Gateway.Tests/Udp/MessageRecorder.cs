using Gateway.Tests.Infrastructure;
using System.Collections.Concurrent;
using Gateway.Messaging;

namespace Gateway.Tests.Udp;

/// <summary>A bus subscriber inside the test, to see the topic and source a datagram was published with.</summary>
internal sealed class MessageRecorder : IMessageSubscriber
{
    private readonly ConcurrentQueue<Message> _messages = new();

    public IReadOnlyCollection<Message> Messages => _messages;

    public DeliveryOutcome Deliver(Message message)
    {
        _messages.Enqueue(message);
        return DeliveryOutcome.Accepted;
    }

    public async Task<Message> WaitForAsync(Func<Message, bool> predicate)
    {
        Message? match = null;
        await Eventually.TrueAsync(() => (match = _messages.FirstOrDefault(predicate)) is not null, "a matching message was published");
        return match!;
    }
}
