using Gateway.Messaging;

namespace Gateway.UnitTests.Messaging;

/// <summary>
/// An outbox's writer (<see cref="IOutboxWriter"/>) writes on the delivering thread while the reader waits, in place
/// of waking it; whatever the writer leaves, the reader is woken for, so nothing is lost either way.
/// </summary>
public sealed class OutboxWriterTests
{
    private static readonly MessageSource s_source = new("test", "c1", "127.0.0.1:1");

    private static Message NewMessage(string body) => new("t", System.Text.Encoding.UTF8.GetBytes(body), s_source, DateTimeOffset.UtcNow);

    private static string Body(Message message) => System.Text.Encoding.UTF8.GetString(message.Payload.Span);

    /// <summary>The reader's wait's result; fails instead of hanging when the reader is never woken.</summary>
    private static Task<bool> Woken(ValueTask<bool> waiting) => waiting.AsTask().WaitAsync(TimeSpan.FromSeconds(10));

    /// <summary>Takes up to <see cref="Take"/> messages per call and reports <see cref="Finishes"/>; runs <see cref="During"/> before returning.</summary>
    private sealed class RecordingWriter(Outbox outbox) : IOutboxWriter
    {
        public List<List<string>> Calls { get; } = [];
        public int Take { get; set; } = int.MaxValue;
        public bool Finishes { get; set; } = true;
        public Action? During { get; set; }

        public OutboxWrite TryWriteNow()
        {
            var written = new List<string>();
            while (written.Count < Take && outbox.TryRead(out var message))
                written.Add(Body(message));
            Calls.Add(written);
            var during = During;
            During = null;
            during?.Invoke();
            return Finishes ? OutboxWrite.Written : OutboxWrite.WakeReader;
        }
    }

    private static (Outbox Outbox, RecordingWriter Writer) NewOutbox()
    {
        var outbox = new Outbox(new OutboxOptions { Capacity = 16 }, new MessageCounters());
        var writer = new RecordingWriter(outbox);
        outbox.WriteInPlaceOfWaking(writer);
        return (outbox, writer);
    }

    [Fact]
    public void Deliveries_while_the_reader_waits_are_written_in_its_place_and_it_stays_waiting()
    {
        var (outbox, writer) = NewOutbox();
        var waiting = outbox.WaitToReadAsync();
        Assert.False(waiting.IsCompleted);

        outbox.Deliver(NewMessage("m1"));
        outbox.Deliver(NewMessage("m2"));

        Assert.Equal([["m1"], ["m2"]], writer.Calls);
        Assert.False(waiting.IsCompleted);
        Assert.Equal(0, outbox.Count);
    }

    [Fact]
    public void A_delivery_batch_is_written_in_one_call_at_its_end()
    {
        var (outbox, writer) = NewOutbox();
        _ = outbox.WaitToReadAsync();

        using (DeliveryBatch.Begin())
        {
            outbox.Deliver(NewMessage("m1"));
            outbox.Deliver(NewMessage("m2"));
            outbox.Deliver(NewMessage("m3"));
            Assert.Empty(writer.Calls);
        }

        Assert.Equal([["m1", "m2", "m3"]], writer.Calls);
    }

    [Fact]
    public async Task A_writer_that_cannot_write_now_wakes_the_reader_with_the_messages_still_queued()
    {
        var (outbox, writer) = NewOutbox();
        writer.Take = 0;
        writer.Finishes = false;
        var waiting = outbox.WaitToReadAsync();

        outbox.Deliver(NewMessage("m1"));

        Assert.True(await Woken(waiting));
        Assert.True(outbox.TryRead(out var message));
        Assert.Equal("m1", Body(message));
    }

    [Fact]
    public async Task What_the_writer_leaves_is_read_by_the_woken_reader_in_order()
    {
        var (outbox, writer) = NewOutbox();
        writer.Take = 1;
        var waiting = outbox.WaitToReadAsync();

        using (DeliveryBatch.Begin())
        {
            outbox.Deliver(NewMessage("m1"));
            outbox.Deliver(NewMessage("m2"));
            outbox.Deliver(NewMessage("m3"));
        }

        Assert.Equal([["m1"]], writer.Calls);
        Assert.True(await Woken(waiting));
        var rest = new List<string>();
        while (outbox.TryRead(out var message))
            rest.Add(Body(message));
        Assert.Equal(["m2", "m3"], rest);
    }

    [Fact]
    public async Task A_message_queued_while_the_writer_writes_wakes_the_reader()
    {
        // Another publisher's delivery lands while the writer is busy: the reader is not marked waiting then, so
        // that delivery wakes nobody, and the writer's end must notice it.
        var (outbox, writer) = NewOutbox();
        writer.During = () => outbox.Deliver(NewMessage("m2"));
        var waiting = outbox.WaitToReadAsync();

        outbox.Deliver(NewMessage("m1"));

        Assert.Equal([["m1"]], writer.Calls);
        Assert.True(await Woken(waiting));
        Assert.True(outbox.TryRead(out var message));
        Assert.Equal("m2", Body(message));
    }

    [Fact]
    public async Task A_pending_write_leaves_the_reader_waiting_until_it_ends()
    {
        var outbox = new Outbox(new OutboxOptions { Capacity = 16 }, new MessageCounters());
        var writes = new Queue<OutboxWrite>([OutboxWrite.Pending, OutboxWrite.Pending]);
        var taken = new List<string>();
        outbox.WriteInPlaceOfWaking(new PendingWriter(outbox, writes, taken));
        var waiting = outbox.WaitToReadAsync();

        outbox.Deliver(NewMessage("m1"));
        Assert.False(waiting.IsCompleted);
        outbox.EndPendingWrite(OutboxWrite.Written);
        Assert.False(waiting.IsCompleted);

        // Waiting again after the first: the next delivery goes to the writer too, and this write wakes the reader.
        outbox.Deliver(NewMessage("m2"));
        Assert.Equal(["m1", "m2"], taken);
        Assert.False(waiting.IsCompleted);
        outbox.Deliver(NewMessage("m3"));
        outbox.EndPendingWrite(OutboxWrite.WakeReader);
        Assert.True(await Woken(waiting));
        Assert.True(outbox.TryRead(out var message));
        Assert.Equal("m3", Body(message));
    }

    private sealed class PendingWriter(Outbox outbox, Queue<OutboxWrite> writes, List<string> taken) : IOutboxWriter
    {
        public OutboxWrite TryWriteNow()
        {
            Assert.True(outbox.TryRead(out var message));
            taken.Add(Body(message));
            return writes.Dequeue();
        }
    }

    [Fact]
    public async Task Completing_a_waiting_outbox_writes_what_is_queued_and_ends_the_reader()
    {
        var (outbox, writer) = NewOutbox();
        writer.During = () => outbox.Complete();
        var waiting = outbox.WaitToReadAsync();

        outbox.Deliver(NewMessage("m1"));

        Assert.Equal([["m1"]], writer.Calls);
        Assert.True(await Woken(waiting));
        Assert.False(await Woken(outbox.WaitToReadAsync()));
    }
}
