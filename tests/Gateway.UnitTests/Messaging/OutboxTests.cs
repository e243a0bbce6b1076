using Gateway.Messaging;

namespace Gateway.UnitTests.Messaging;

/// <summary>
/// An outbox holds no array before its first message and only two small ones after: its ring grows up to its capacity
/// on arrays from the pool while a backlog lasts and gives them back once drained, with order and the overflow policies
/// the same as for a ring allocated whole, and a light flow allocates nothing.
/// </summary>
public sealed class OutboxTests
{
    private static readonly MessageSource s_source = new("test", "c1", "127.0.0.1:1");

    private static Message NewMessage(int number) => new("t", BitConverter.GetBytes(number), s_source, DateTimeOffset.UtcNow);

    private static int Number(Message message) => BitConverter.ToInt32(message.Payload.Span);

    private static Outbox NewOutbox(int capacity, OverflowPolicy overflow = OverflowPolicy.DropOldest) =>
        new(new OutboxOptions { Capacity = capacity, Overflow = overflow }, new MessageCounters());

    private static List<int> ReadAll(Outbox outbox)
    {
        var numbers = new List<int>();
        while (outbox.TryRead(out var message)) numbers.Add(Number(message));
        return numbers;
    }

    [Fact]
    public void A_new_outbox_allocates_nothing_sized_by_its_capacity()
    {
        var options = new OutboxOptions { Capacity = 100_000 };
        var counters = new MessageCounters();
        _ = new Outbox(options, counters); // the type's first use, outside the measurement

        var before = GC.GetAllocatedBytesForCurrentThread();
        var outbox = new Outbox(options, counters);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.InRange(allocated, 1, 1024);
        Assert.Equal(0, outbox.HeldSlots);
    }

    [Fact]
    public void Messages_keep_their_order_while_the_ring_grows_around_its_wrapped_end_up_to_the_capacity()
    {
        var outbox = NewOutbox(capacity: 1000);
        var read = new List<int>();
        var next = 0;
        // Read a few between bursts, so the ring has wrapped (its head is not at the start) when it grows.
        foreach (var burst in new[] { 5, 20, 60, 200, 700 })
        {
            for (var i = 0; i < burst; i++) Assert.Equal(DeliveryOutcome.Accepted, outbox.Deliver(NewMessage(next++)));
            for (var i = 0; i < 3 && outbox.TryRead(out var message); i++) read.Add(Number(message));
        }

        read.AddRange(ReadAll(outbox));

        Assert.Equal(Enumerable.Range(0, next), read);
        Assert.Equal(0, outbox.Count);
    }

    [Fact]
    public void A_drained_outbox_gives_its_rented_arrays_back_and_keeps_only_the_small_ones()
    {
        const int small = 2 * Outbox.SmallArraySize;
        var outbox = NewOutbox(capacity: 1024);
        for (var i = 0; i < 300; i++) outbox.Deliver(NewMessage(i));
        Assert.InRange(outbox.HeldSlots, 300, 1024 + Outbox.ReadBatchSize + small);

        Assert.Equal(Enumerable.Range(0, 300), ReadAll(outbox));
        Assert.InRange(outbox.HeldSlots, 1, small);

        for (var i = 300; i < 310; i++) outbox.Deliver(NewMessage(i));
        Assert.Equal(Enumerable.Range(300, 10), ReadAll(outbox));
        Assert.InRange(outbox.HeldSlots, 1, small);
    }

    [Fact]
    public void A_message_at_a_time_allocates_nothing_once_the_first_has_passed()
    {
        var outbox = NewOutbox(capacity: 1024);
        var messages = Enumerable.Range(0, 200).Select(NewMessage).ToArray();
        for (var i = 0; i < 100; i++)
        {
            outbox.Deliver(messages[i]);
            Assert.True(outbox.TryRead(out _));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 100; i < 200; i++)
        {
            outbox.Deliver(messages[i]);
            Assert.True(outbox.TryRead(out var message));
            Assert.Same(messages[i], message);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(OverflowPolicy.DropOldest, 10)]
    [InlineData(OverflowPolicy.DropNewest, 0)]
    public void A_full_outbox_overflows_at_its_capacity_not_at_the_size_of_the_array_it_rented(OverflowPolicy policy, int firstKept)
    {
        // 20 is between the pool's sizes: the array rented is longer than the ring may use.
        var outbox = NewOutbox(capacity: 20, policy);
        for (var i = 0; i < 30; i++) outbox.Deliver(NewMessage(i));

        Assert.Equal(20, outbox.Count);
        Assert.Equal(Enumerable.Range(firstKept, 20), ReadAll(outbox));
    }

    [Fact]
    public void A_disconnect_outbox_overflows_on_the_message_after_its_capacity()
    {
        var overflowed = 0;
        var outbox = new Outbox(new OutboxOptions { Capacity = 20, Overflow = OverflowPolicy.Disconnect }, new MessageCounters(),
            () => overflowed++);
        for (var i = 0; i < 20; i++) Assert.Equal(DeliveryOutcome.Accepted, outbox.Deliver(NewMessage(i)));

        Assert.Equal(DeliveryOutcome.DroppedOverflowDisconnect, outbox.Deliver(NewMessage(20)));
        Assert.Equal(1, overflowed);
        Assert.Equal(Enumerable.Range(0, 20), ReadAll(outbox));
        Assert.InRange(outbox.HeldSlots, 1, 2 * Outbox.SmallArraySize);
    }
}
