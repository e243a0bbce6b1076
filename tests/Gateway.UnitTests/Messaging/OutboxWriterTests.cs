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

        public bool TryWriteNow()
        {
            var written = new List<string>();
            while (written.Count < Take && outbox.TryRead(out var message))
                written.Add(Body(message));
            Calls.Add(written);
            var during = During;
            During = null;
            during?.Invoke();
            return Finishes;
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
    public async Task A_write_still_under_way_leaves_the_reader_waiting_and_a_delivery_it_cannot_take_wakes_the_reader()
    {
        // As a WebSocket's writer does: the first message's write is handed off and still holds the socket, so the
        // writer cannot take the next one; the reader is woken for it and writes it once the first write is done.
        var outbox = new Outbox(new OutboxOptions { Capacity = 16 }, new MessageCounters());
        var taken = new List<string>();
        var busy = false;
        outbox.WriteInPlaceOfWaking(new HandOffWriter(outbox, taken, () => busy, () => busy = true));
        var waiting = outbox.WaitToReadAsync();

        outbox.Deliver(NewMessage("m1"));
        Assert.Equal(["m1"], taken);
        Assert.False(waiting.IsCompleted);

        outbox.Deliver(NewMessage("m2"));
        Assert.True(await Woken(waiting));
        Assert.Equal(["m1"], taken);
        Assert.True(outbox.TryRead(out var message));
        Assert.Equal("m2", Body(message));
    }

    /// <summary>Takes one message and hands its write off, then declines while that write is under way.</summary>
    private sealed class HandOffWriter(Outbox outbox, List<string> taken, Func<bool> busy, Action handOff) : IOutboxWriter
    {
        public bool TryWriteNow()
        {
            if (busy()) return false;
            Assert.True(outbox.TryRead(out var message));
            taken.Add(Body(message));
            handOff();
            return true;
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
