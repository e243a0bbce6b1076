using System.Buffers;
using Gateway.Protocols.Topics;
using NATS.Client.Core;

namespace Gateway.Backplane;

/// <summary>
/// One NATS subscription of a local filter. A message is handed to the link on the client's read loop, into the link's
/// one queue of received messages, with no channel or task per subscription: thousands of filters cost thousands of
/// small objects, not thousands of queues.
/// </summary>
internal sealed class InterestSubscription(NatsConnection connection, string subject, TopicFilter filter, NatsLink link)
    : NatsSubBase(connection, connection.SubscriptionManager, subject, queueGroup: null, opts: null)
{
    public TopicFilter Filter { get; } = filter;

    protected override ValueTask ReceiveInternalAsync(string subject, string? replyTo, ReadOnlySequence<byte>? headersBuffer, ReadOnlySequence<byte> payloadBuffer) =>
        link.Receive(Filter, subject, headersBuffer, payloadBuffer);

    protected override void TryComplete()
    {
        // Nothing to complete: messages are delivered as they arrive.
    }
}
