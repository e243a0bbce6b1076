namespace Gateway.Messaging;

/// <summary>
/// Defers the wake-up of outbox readers until a batch of publishes ends, so a writer that receives many
/// messages from one socket read flushes once for all of them (Netty's "flush on read complete").
/// </summary>
/// <remarks>
/// Batches are per thread and may nest; only the outermost end wakes. A batch must not span an await:
/// it brackets the synchronous parse-and-publish loop of one read.
/// </remarks>
public static class DeliveryBatch
{
    [ThreadStatic] private static List<Outbox>? t_pending;
    [ThreadStatic] private static int t_depth;

    public static Scope Begin()
    {
        t_depth++;
        return default;
    }

    internal static void Wake(Outbox outbox)
    {
        if (t_depth > 0) (t_pending ??= []).Add(outbox);
        else outbox.Signal();
    }

    private static void End()
    {
        if (--t_depth > 0 || t_pending is not { Count: > 0 } pending) return;

        // A woken writer runs inline and may publish or batch again on this thread: detach the list first.
        t_pending = null;
        Outbox.SignalAll(pending);
        pending.Clear();
        t_pending ??= pending;
    }

    /// <summary>Ends the batch when disposed.</summary>
    public readonly struct Scope : IDisposable
    {
        public void Dispose() => End();
    }
}
