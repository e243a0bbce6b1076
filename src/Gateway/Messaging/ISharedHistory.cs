using Gateway.Protocols.Topics;

namespace Gateway.Messaging;

/// <summary>
/// A history of messages kept outside this process and shared by every instance (the backplane's JetStream stream),
/// which numbers each message the same everywhere; the event streams read from it when it is on.
/// </summary>
public interface ISharedHistory
{
    bool Enabled { get; }

    /// <summary>
    /// The messages on topics matching <paramref name="filter"/> numbered above <paramref name="afterId"/> (none when
    /// null), then each new one as it arrives, until cancelled; each message's <see cref="Message.Id"/> is its number.
    /// </summary>
    IAsyncEnumerable<Message> ReadAsync(TopicFilter filter, long? afterId, CancellationToken cancellationToken);
}
