namespace Gateway.Messaging;

/// <summary>Writes an outbox's messages on the thread that delivers them, while its reader waits.</summary>
public interface IOutboxWriter
{
    /// <summary>
    /// Takes messages with <see cref="Outbox.TryRead"/> and writes them now, as the waiting reader would.
    /// It runs on the publisher's thread, between deliveries to other subscribers, so it must not block or throw.
    /// </summary>
    OutboxWrite TryWriteNow();

    /// <summary>
    /// Starts loading what <see cref="TryWriteNow"/> will read (<see cref="CacheHint.Prefetch"/>), a hint only: at
    /// <paramref name="depth"/> 0 the objects the writer points to, at 1 the objects those point to.
    /// </summary>
    void Prefetch(int depth)
    {
    }
}

/// <summary>How an <see cref="IOutboxWriter"/>'s write went; nothing may be lost whichever it is.</summary>
public enum OutboxWrite
{
    /// <summary>Written without waiting for anything: the reader may go on waiting.</summary>
    Written,

    /// <summary>The reader must be woken to go on.</summary>
    WakeReader,

    /// <summary>Still under way: the writer calls <see cref="Outbox.EndPendingWrite"/> when it ends.</summary>
    Pending,
}
