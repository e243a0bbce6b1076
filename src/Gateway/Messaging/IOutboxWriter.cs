namespace Gateway.Messaging;

/// <summary>Writes an outbox's messages on the thread that delivers them, while its reader waits.</summary>
public interface IOutboxWriter
{
    /// <summary>
    /// Takes messages with <see cref="Outbox.TryRead"/> and writes them now, as the waiting reader would; true when it
    /// did so without waiting for anything, false when the reader must be woken to go on (nothing may be lost either way).
    /// It runs on the publisher's thread, between deliveries to other subscribers, so it must not block or throw.
    /// </summary>
    bool TryWriteNow();
}
