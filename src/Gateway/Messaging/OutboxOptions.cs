namespace Gateway.Messaging;

/// <summary>What a subscriber's full outbox does with one more message.</summary>
public enum OverflowPolicy
{
    /// <summary>Discard the oldest queued message to make room.</summary>
    DropOldest,

    /// <summary>Discard the message that does not fit.</summary>
    DropNewest,

    /// <summary>Close the subscriber: it cannot keep up.</summary>
    Disconnect,
}

/// <summary>Size and overflow policy of a subscriber's outbox.</summary>
public sealed class OutboxOptions
{
    /// <summary>Messages queued per subscriber. Defaults to 1,024.</summary>
    public int Capacity { get; set; } = 1024;

    /// <summary>Defaults to <see cref="OverflowPolicy.DropOldest"/>.</summary>
    public OverflowPolicy Overflow { get; set; } = OverflowPolicy.DropOldest;
}
