namespace Gateway.Messaging;

/// <summary>Writes an outbox's messages on the thread that delivers them, while its reader waits.</summary>
public interface IOutboxWriter
{
    /// <summary>
    /// Takes messages with <see cref="Outbox.TryRead"/> and writes them now, as the waiting reader would: true when the
    /// reader may go on waiting (what was taken is written, or its write is under way and finishes without it), false
    /// when the reader must be woken to go on. It runs on the publisher's thread, between deliveries to other
    /// subscribers, so it must not block or throw; nothing taken may be lost whichever it returns.
    /// </summary>
    bool TryWriteNow();
}
