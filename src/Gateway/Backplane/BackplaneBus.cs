using Gateway.Messaging;
using Gateway.Protocols.Topics;

namespace Gateway.Backplane;

/// <summary>
/// The bus with a backplane: every publish is delivered to this instance's subscribers directly, as the embedded bus
/// delivers it, and handed to the link once for the other instances; every subscription also registers its filter's
/// interest, so the link receives from NATS what the peers here want, and nothing else.
/// </summary>
internal sealed class BackplaneBus(InProcessMessageBus local, NatsLink link) : IMessageBus
{
    public MessageCounters Counters => local.Counters;

    public int Publish(Message message)
    {
        var matched = local.Publish(message);
        link.Forward(new ReadOnlySpan<Message>(in message));
        return matched;
    }

    public int Publish(ReadOnlySpan<Message> messages)
    {
        var matched = local.Publish(messages);
        link.Forward(messages);
        return matched;
    }

    public IDisposable Subscribe(TopicFilter filter, IMessageSubscriber subscriber) =>
        new Subscription(local.Subscribe(filter, subscriber), link.AddInterest(filter));

    /// <summary>The local subscription and its share of the filter's interest on NATS, ended together.</summary>
    private sealed class Subscription(IDisposable local, IDisposable interest) : IDisposable
    {
        public void Dispose()
        {
            local.Dispose();
            interest.Dispose();
        }
    }
}
