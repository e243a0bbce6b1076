using Gateway.Messaging;
using Gateway.Protocols.Topics;

namespace Gateway.UnitTests.Messaging;

/// <summary>
/// The wildcard index answers what a linear scan with <see cref="TopicFilter.Matches(string)"/> answers, for generated
/// filters and topics (empty levels, '+' anywhere, '#' last), after removals, and while other threads subscribe and
/// unsubscribe.
/// </summary>
public sealed class TopicFilterTreeTests
{
    // A class, not a record: two subscriptions to one filter are two values, as the bus's are.
    private sealed class Subscription(TopicFilter filter)
    {
        public TopicFilter Filter { get; } = filter;
    }

    private readonly struct Collect(List<Subscription> into) : TopicFilterTree<Subscription>.IVisitor
    {
        public void Visit(Subscription[] values) => into.AddRange(values);
    }

    private static readonly string[] s_names = ["a", "b", "c", ""];

    private static TopicFilter NextFilter(Random random)
    {
        var levels = new List<string>();
        var depth = random.Next(1, 5);
        for (var i = 0; i < depth; i++)
            levels.Add(random.Next(4) == 0 ? "+" : s_names[random.Next(s_names.Length)]);
        if (random.Next(4) == 0) levels.Add("#");
        var filter = string.Join('/', levels);
        return TopicFilter.Parse(filter.Length > 0 ? filter : "/"); // one empty level is no filter; two are
    }

    private static string NextTopic(Random random)
    {
        var topic = string.Join('/', Enumerable.Range(0, random.Next(1, 6)).Select(_ => s_names[random.Next(s_names.Length)]));
        return topic.Length > 0 ? topic : "/";
    }

    private static List<Subscription> Match(TopicFilterTree<Subscription> tree, string topic)
    {
        var found = new List<Subscription>();
        var collect = new Collect(found);
        tree.Match(topic, ref collect);
        return found;
    }

    private static void AssertSameAsScan(TopicFilterTree<Subscription> tree, IReadOnlyCollection<Subscription> all, string topic)
    {
        var expected = all.Where(subscription => subscription.Filter.Matches(topic)).ToHashSet(ReferenceEqualityComparer.Instance);
        var found = Match(tree, topic);
        Assert.Equal(found.Count, found.Distinct(ReferenceEqualityComparer.Instance).Count()); // no value twice
        Assert.True(expected.SetEquals(found), $"topic '{topic}': expected [{string.Join(", ", expected.Cast<Subscription>().Select(s => s.Filter))}], found [{string.Join(", ", found.Select(s => s.Filter))}]");
    }

    [Fact]
    public void Matches_what_a_linear_scan_matches_for_generated_filters_and_topics_before_and_after_removals()
    {
        var random = new Random(1515);
        var tree = new TopicFilterTree<Subscription>();
        var all = new List<Subscription>();
        for (var i = 0; i < 3000; i++)
        {
            var subscription = new Subscription(NextFilter(random));
            tree.Add(subscription.Filter, subscription);
            all.Add(subscription);
        }

        for (var i = 0; i < 2000; i++)
            AssertSameAsScan(tree, all, NextTopic(random));

        foreach (var removed in all.Where(_ => random.Next(2) == 0).ToList())
        {
            Assert.True(tree.Remove(removed.Filter, removed));
            all.Remove(removed);
        }

        Assert.Equal(all.Count, tree.Count);
        for (var i = 0; i < 2000; i++)
            AssertSameAsScan(tree, all, NextTopic(random));
    }

    [Fact]
    public void Removing_every_value_leaves_nothing_to_match_and_a_value_not_held_is_not_removed()
    {
        var tree = new TopicFilterTree<Subscription>();
        var first = new Subscription(TopicFilter.Parse("a/+/#"));
        var second = new Subscription(TopicFilter.Parse("a/+/#"));
        tree.Add(first.Filter, first);
        tree.Add(second.Filter, second);

        Assert.False(tree.Remove(TopicFilter.Parse("a/+"), first));
        Assert.True(tree.Remove(first.Filter, first));
        Assert.False(tree.Remove(first.Filter, first));
        Assert.Equal([second], Match(tree, "a/b"));
        Assert.True(tree.Remove(second.Filter, second));

        Assert.Equal(0, tree.Count);
        Assert.Empty(Match(tree, "a/b"));
        Assert.Empty(Match(tree, "a/b/c"));
    }

    [Fact]
    public async Task Readers_see_every_stable_filter_and_only_matching_ones_while_others_subscribe_and_unsubscribe()
    {
        var tree = new TopicFilterTree<Subscription>();
        var writerGate = new Lock(); // writers are serialised by the caller, as the bus does
        var stable = new List<Subscription>();
        var random = new Random(77);
        for (var i = 0; i < 500; i++)
        {
            var subscription = new Subscription(NextFilter(random));
            tree.Add(subscription.Filter, subscription);
            stable.Add(subscription);
        }

        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(0, 2).Select(seed => Task.Run(() =>
        {
            var churn = new Random(seed);
            var held = new List<Subscription>();
            while (!stop.IsCancellationRequested)
            {
                lock (writerGate)
                {
                    // Half removes, half adds, and never more than 1,000 held: the tree stays this size however long the readers take.
                    if (held.Count > 1000 || (held.Count > 0 && churn.Next(2) == 0))
                    {
                        var index = churn.Next(held.Count);
                        Assert.True(tree.Remove(held[index].Filter, held[index]));
                        held.RemoveAt(index);
                    }
                    else
                    {
                        var subscription = new Subscription(NextFilter(churn));
                        tree.Add(subscription.Filter, subscription);
                        held.Add(subscription);
                    }
                }
            }

            return held;
        })).ToList();

        var readers = Enumerable.Range(100, 2).Select(seed => Task.Run(() =>
        {
            var topics = new Random(seed);
            for (var i = 0; i < 20_000; i++)
            {
                var topic = NextTopic(topics);
                var found = Match(tree, topic);
                Assert.All(found, subscription => Assert.True(subscription.Filter.Matches(topic), $"'{subscription.Filter}' does not match '{topic}'"));
                Assert.Equal(found.Count, found.Distinct(ReferenceEqualityComparer.Instance).Count());
                var expected = stable.Where(subscription => subscription.Filter.Matches(topic));
                Assert.True(expected.All(subscription => found.Contains(subscription)), $"a stable filter was missed for '{topic}'");
            }
        })).ToList();

        await Task.WhenAll(readers);
        stop.Cancel();
        var left = (await Task.WhenAll(writers)).SelectMany(held => held).Concat(stable).ToList();

        Assert.Equal(left.Count, tree.Count);
        var check = new Random(5);
        for (var i = 0; i < 2000; i++)
            AssertSameAsScan(tree, left, NextTopic(check));
    }
}
