using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.UnitTests.Messaging;

public sealed class InProcessMessageBusTests
{
    private static readonly MessageSource s_source = new("test", "c1", "127.0.0.1:1");

    private static InProcessMessageBus NewBus() => new(NullLogger<InProcessMessageBus>.Instance);

    private static Message NewMessage(string topic, string body = "x") => new(topic, System.Text.Encoding.UTF8.GetBytes(body), s_source, DateTimeOffset.UtcNow);

    private static Outbox NewOutbox(InProcessMessageBus bus, int capacity = 16, OverflowPolicy policy = OverflowPolicy.DropOldest, Action? onOverflow = null) =>
        new(new OutboxOptions { Capacity = capacity, Overflow = policy }, bus.Counters, onOverflow);

    private static List<string> Drain(Outbox outbox)
    {
        var bodies = new List<string>();
        while (outbox.TryRead(out var message))
            bodies.Add(System.Text.Encoding.UTF8.GetString(message.Payload.Span));
        return bodies;
    }

    [Fact]
    public void Publish_reaches_exact_and_wildcard_subscribers_and_returns_how_many_matched()
    {
        var bus = NewBus();
        var exact = NewOutbox(bus);
        var plus = NewOutbox(bus);
        var hash = NewOutbox(bus);
        var other = NewOutbox(bus);
        using var s1 = bus.Subscribe(TopicFilter.Parse("devices/d1/up"), exact);
        using var s2 = bus.Subscribe(TopicFilter.Parse("devices/+/up"), plus);
        using var s3 = bus.Subscribe(TopicFilter.Parse("devices/#"), hash);
        using var s4 = bus.Subscribe(TopicFilter.Parse("devices/+/down"), other);

        Assert.Equal(3, bus.Publish(NewMessage("devices/d1/up")));

        Assert.Single(Drain(exact));
        Assert.Single(Drain(plus));
        Assert.Single(Drain(hash));
        Assert.Empty(Drain(other));
        Assert.Equal(1, bus.Counters.Published);
        Assert.Equal(3, bus.Counters.Delivered);
    }

    [Fact]
    public void Unsubscribed_outbox_receives_nothing_more()
    {
        var bus = NewBus();
        var outbox = NewOutbox(bus);
        var subscription = bus.Subscribe(TopicFilter.Parse("a/b"), outbox);
        var wildcard = bus.Subscribe(TopicFilter.Parse("a/+"), outbox);
        bus.Publish(NewMessage("a/b"));
        subscription.Dispose();
        wildcard.Dispose();

        Assert.Equal(0, bus.Publish(NewMessage("a/b")));
        Assert.Equal(2, Drain(outbox).Count);
        Assert.Equal(1, bus.Counters.Unrouted);
    }

    [Fact]
    public void Drop_oldest_keeps_the_newest_messages_and_counts_each_drop()
    {
        var bus = NewBus();
        var outbox = NewOutbox(bus, capacity: 3, OverflowPolicy.DropOldest);
        using var _ = bus.Subscribe(TopicFilter.Parse("t"), outbox);

        for (var i = 1; i <= 5; i++) bus.Publish(NewMessage("t", i.ToString()));

        Assert.Equal(["3", "4", "5"], Drain(outbox));
        Assert.Equal(2, bus.Counters.DroppedOldest);
        Assert.Equal(2, bus.Counters.Dropped);
    }

    [Fact]
    public void Drop_newest_keeps_the_oldest_messages_and_counts_each_drop()
    {
        var bus = NewBus();
        var outbox = NewOutbox(bus, capacity: 3, OverflowPolicy.DropNewest);
        using var _ = bus.Subscribe(TopicFilter.Parse("t"), outbox);

        for (var i = 1; i <= 5; i++) bus.Publish(NewMessage("t", i.ToString()));

        Assert.Equal(["1", "2", "3"], Drain(outbox));
        Assert.Equal(2, bus.Counters.DroppedNewest);
    }

    [Fact]
    public void Disconnect_policy_signals_the_slow_subscriber_once_and_refuses_more()
    {
        var bus = NewBus();
        var signalled = 0;
        var outbox = NewOutbox(bus, capacity: 2, OverflowPolicy.Disconnect, () => signalled++);
        using var _ = bus.Subscribe(TopicFilter.Parse("t"), outbox);

        for (var i = 1; i <= 5; i++) bus.Publish(NewMessage("t", i.ToString()));

        Assert.Equal(1, signalled);
        Assert.Equal(1, bus.Counters.DroppedOverflowDisconnect);
        Assert.Equal(2, bus.Counters.DroppedClosed);
        Assert.Equal(["1", "2"], Drain(outbox));
    }

    [Fact]
    public async Task A_slow_subscriber_never_blocks_the_publisher_or_the_others()
    {
        var bus = NewBus();
        var stalled = NewOutbox(bus, capacity: 8, OverflowPolicy.DropOldest); // never read
        var healthy = NewOutbox(bus, capacity: 100_000);
        using var s1 = bus.Subscribe(TopicFilter.Parse("load/#"), stalled);
        using var s2 = bus.Subscribe(TopicFilter.Parse("load/+"), healthy);

        // The publisher runs to completion although one subscriber reads nothing at all.
        var publishing = Task.Run(() =>
        {
            for (var i = 0; i < 50_000; i++) bus.Publish(NewMessage("load/a", "m"));
        });
        await publishing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(50_000, Drain(healthy).Count);
        Assert.Equal(8, stalled.Count);
        Assert.Equal(50_000 - 8, bus.Counters.DroppedOldest);
    }

    [Fact]
    public void A_subscriber_that_throws_does_not_stop_delivery_to_the_others()
    {
        var bus = NewBus();
        var healthy = NewOutbox(bus);
        using var s1 = bus.Subscribe(TopicFilter.Parse("t"), new ThrowingSubscriber());
        using var s2 = bus.Subscribe(TopicFilter.Parse("t"), healthy);

        bus.Publish(NewMessage("t"));

        Assert.Single(Drain(healthy));
        Assert.Equal(1, bus.Counters.DroppedClosed);
    }

    [Fact]
    public void Completed_outbox_drops_new_messages_as_closed_but_keeps_queued_ones_for_the_reader()
    {
        var bus = NewBus();
        var outbox = NewOutbox(bus);
        using var _ = bus.Subscribe(TopicFilter.Parse("t"), outbox);
        bus.Publish(NewMessage("t", "before"));
        outbox.Complete();
        bus.Publish(NewMessage("t", "after"));

        Assert.Equal(["before"], Drain(outbox));
        Assert.Equal(1, bus.Counters.DroppedClosed);
    }

    [Fact]
    public void Concurrent_subscribe_and_publish_lose_no_subscription()
    {
        var bus = NewBus();
        var outboxes = Enumerable.Range(0, 200).Select(_ => NewOutbox(bus, capacity: 10_000)).ToArray();
        Parallel.For(0, outboxes.Length, i => bus.Subscribe(TopicFilter.Parse(i % 2 == 0 ? "shared" : "+"), outboxes[i]));

        Assert.Equal(200, bus.Publish(NewMessage("shared")));
    }

    [Fact]
    public void Publishing_several_messages_delivers_each_in_order_to_the_subscribers_of_its_own_topic()
    {
        var bus = NewBus();
        var a = NewOutbox(bus);
        var b = NewOutbox(bus);
        var all = NewOutbox(bus);
        using var s1 = bus.Subscribe(TopicFilter.Parse("a"), a);
        using var s2 = bus.Subscribe(TopicFilter.Parse("b"), b);
        using var s3 = bus.Subscribe(TopicFilter.Parse("#"), all);

        Message[] messages = [NewMessage("a", "1"), NewMessage("a", "2"), NewMessage("b", "3"), NewMessage("nobody/here", "4"), NewMessage("a", "5")];
        // a: 3 messages x 2 subscribers, b: 1 x 2, nobody/here: 1 x 1 (only '#')
        Assert.Equal(9, bus.Publish(messages));

        Assert.Equal(["1", "2", "5"], Drain(a));
        Assert.Equal(["3"], Drain(b));
        Assert.Equal(["1", "2", "3", "4", "5"], Drain(all));
        Assert.Equal(5, bus.Counters.Published);
        Assert.Equal(9, bus.Counters.Delivered);
        Assert.Equal(0, bus.Counters.Unrouted);
    }

    [Fact]
    public void Publishing_several_messages_counts_those_no_subscriber_matched()
    {
        var bus = NewBus();
        var outbox = NewOutbox(bus);
        using var _ = bus.Subscribe(TopicFilter.Parse("a"), outbox);

        Assert.Equal(1, bus.Publish([NewMessage("x"), NewMessage("x"), NewMessage("a"), NewMessage("y")]));

        Assert.Equal(4, bus.Counters.Published);
        Assert.Equal(3, bus.Counters.Unrouted);
        Assert.Equal(1, bus.Counters.Delivered);
    }

    [Theory]
    [InlineData(OverflowPolicy.DropOldest, new[] { "3", "4", "5" }, 2, 0, 0)]
    [InlineData(OverflowPolicy.DropNewest, new[] { "1", "2", "3" }, 0, 2, 0)]
    [InlineData(OverflowPolicy.Disconnect, new[] { "1", "2", "3" }, 0, 0, 1)]
    public void An_overflow_inside_one_publish_applies_the_policy_to_each_message(
        OverflowPolicy policy, string[] kept, int droppedOldest, int droppedNewest, int disconnects)
    {
        var bus = NewBus();
        var signalled = 0;
        var outbox = NewOutbox(bus, capacity: 3, policy, () => signalled++);
        using var _ = bus.Subscribe(TopicFilter.Parse("t"), outbox);

        bus.Publish([.. Enumerable.Range(1, 5).Select(i => NewMessage("t", i.ToString()))]);

        Assert.Equal(kept, Drain(outbox));
        Assert.Equal(droppedOldest, bus.Counters.DroppedOldest);
        Assert.Equal(droppedNewest, bus.Counters.DroppedNewest);
        Assert.Equal(disconnects, bus.Counters.DroppedOverflowDisconnect);
        Assert.Equal(disconnects, signalled);
        // After the disconnect the outbox is closed: the fifth message is dropped as closed.
        Assert.Equal(policy == OverflowPolicy.Disconnect ? 1 : 0, bus.Counters.DroppedClosed);
        Assert.Equal(3 + droppedOldest, bus.Counters.Delivered);
    }

    [Fact]
    public void A_subscriber_that_throws_part_way_through_a_publish_loses_only_what_it_had_not_taken()
    {
        var bus = NewBus();
        var healthy = NewOutbox(bus);
        var flaky = new ThrowingSubscriber(acceptBeforeThrowing: 2);
        using var s1 = bus.Subscribe(TopicFilter.Parse("t"), flaky);
        using var s2 = bus.Subscribe(TopicFilter.Parse("t"), healthy);

        bus.Publish([.. Enumerable.Range(1, 5).Select(i => NewMessage("t", i.ToString()))]);

        Assert.Equal(["1", "2", "3", "4", "5"], Drain(healthy));
        Assert.Equal(2 + 5, bus.Counters.Delivered);
        Assert.Equal(3, bus.Counters.DroppedClosed);
    }

    [Fact]
    public void Each_count_lands_on_its_endpoint_and_in_the_process_totals()
    {
        var bus = NewBus();
        var fast = new Outbox(new OutboxOptions { Capacity = 16 }, bus.Counters.ForEndpoint("subscribers"));
        var slow = new Outbox(new OutboxOptions { Capacity = 1, Overflow = OverflowPolicy.DropNewest }, bus.Counters.ForEndpoint("slow"));
        using var s1 = bus.Subscribe(TopicFilter.Parse("t"), fast);
        using var s2 = bus.Subscribe(TopicFilter.Parse("t"), slow);
        var fromDevices = new MessageSource("devices", "c1", "127.0.0.1:1");

        bus.Publish([new Message("t", new byte[1], fromDevices, DateTimeOffset.UtcNow), new Message("t", new byte[1], fromDevices, DateTimeOffset.UtcNow)]);
        bus.Publish(NewMessage("nobody/listens"));

        var devices = bus.Counters.ForEndpoint("devices");
        Assert.Equal((2, 0), (devices.Published, devices.Unrouted));
        Assert.Equal((1, 1), (bus.Counters.ForEndpoint("test").Published, bus.Counters.ForEndpoint("test").Unrouted));
        Assert.Equal(2, bus.Counters.ForEndpoint("subscribers").Delivered);
        Assert.Equal((1, 1), (bus.Counters.ForEndpoint("slow").Delivered, bus.Counters.ForEndpoint("slow").DroppedNewest));
        Assert.Equal((3, 1, 3, 1), (bus.Counters.Published, bus.Counters.Unrouted, bus.Counters.Delivered, bus.Counters.DroppedNewest));
        Assert.Equal(["devices", "slow", "subscribers", "test"], bus.Counters.Endpoints.Select(counters => counters.Endpoint!).Order());
    }

    /// <summary>Accepts the given number of messages, then throws on every one after.</summary>
    private sealed class ThrowingSubscriber(int acceptBeforeThrowing = 0) : IMessageSubscriber
    {
        private int _accepted;

        public DeliveryOutcome Deliver(Message message)
        {
            if (_accepted == acceptBeforeThrowing) throw new InvalidOperationException("boom");
            _accepted++;
            return DeliveryOutcome.Accepted;
        }
    }
}
