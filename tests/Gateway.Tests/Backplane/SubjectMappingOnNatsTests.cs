using System.Collections.Concurrent;
using Gateway.Protocols.Topics;
using Gateway.Tests.Infrastructure;
using NATS.Client.Core;

namespace Gateway.Tests.Backplane;

/// <summary>
/// The topic-to-subject mapping checked against a real nats-server rather than a model of its rules: for generated
/// topics and filters, NATS delivers a topic's subject to a filter's subscriptions exactly when the filter matches the
/// topic locally, and then once.
/// </summary>
public sealed class SubjectMappingOnNatsTests
{
    private const string Prefix = "gw";

    [Fact]
    public async Task Nats_delivers_a_topic_to_a_filters_subjects_exactly_when_the_filter_matches_it_locally()
    {
        var random = new Random(20261204);
        var topics = Enumerable.Range(0, 80).Select(_ => Topic(random)).Distinct().ToList();
        var filters = topics.Take(60).Select(topic => Filter(topic, topics[random.Next(topics.Count)], random))
            .DistinctBy(filter => filter.Value).ToList();

        await using var nats = await NatsServer.StartAsync();
        await using var connection = new NatsConnection(new NatsOpts { Url = nats.Url });
        var received = new ConcurrentDictionary<(string Filter, string Topic), int>();
        var subscriptions = new List<INatsSub<byte[]>>();
        var readers = new List<Task>();
        foreach (var filter in filters)
        {
            Assert.True(NatsSubject.TryFromFilter(Prefix, filter, out var subjects));
            foreach (var subject in subjects)
            {
                var subscription = await connection.SubscribeCoreAsync<byte[]>(subject);
                subscriptions.Add(subscription);
                readers.Add(Task.Run(async () =>
                {
                    await foreach (var message in subscription.Msgs.ReadAllAsync())
                    {
                        Assert.True(NatsSubject.TryToTopic(Prefix, message.Subject, out var topic), message.Subject);
                        received.AddOrUpdate((filter.Value, topic), 1, (_, count) => count + 1);
                    }
                }));
            }
        }

        await connection.PingAsync();
        foreach (var topic in topics)
        {
            Assert.True(NatsSubject.TryFromTopic(Prefix, topic, out var subject));
            await connection.PublishAsync(subject, Array.Empty<byte>());
        }

        var expected = filters.SelectMany(filter => topics.Where(filter.Matches).Select(topic => (filter.Value, topic))).ToHashSet();
        Assert.InRange(expected.Count, 100, filters.Count * topics.Count / 2); // both answers are well represented
        await Eventually.TrueAsync(() => received.Count >= expected.Count, $"{expected.Count} deliveries");
        await connection.PingAsync();
        await Task.Delay(200); // time for a wrong extra delivery to show

        Assert.Equal(expected.OrderBy(pair => pair).ToList(), received.Keys.OrderBy(pair => pair).ToList());
        Assert.All(received, pair => Assert.Equal(1, pair.Value));
        foreach (var subscription in subscriptions) await subscription.DisposeAsync();
        await Task.WhenAll(readers);
    }

    private static readonly string[] s_levels = ["a", "b", "a.b", "*", ">", "%", "", " ", "温度", "é", "$SYS", "127.0.0.1:5000", "x y", "%41", "a*b"];

    private static string Topic(Random random)
    {
        var levels = Enumerable.Range(0, random.Next(1, 5)).Select(_ => s_levels[random.Next(s_levels.Length)]).ToList();
        var topic = string.Join('/', levels);
        return topic.Length == 0 ? "a" : topic;
    }

    /// <summary>A filter from <paramref name="topic"/> (so it often matches) or from <paramref name="other"/>, with some '+' levels and maybe a final '#'.</summary>
    private static TopicFilter Filter(string topic, string other, Random random)
    {
        var levels = (random.Next(3) == 0 ? other : topic).Split('/').ToList();
        for (var i = 0; i < levels.Count; i++)
        {
            if (random.Next(4) == 0) levels[i] = "+";
        }

        switch (random.Next(4))
        {
            case 0: levels.Add("#"); break;
            case 1: levels[^1] = "#"; break;
        }

        var filter = string.Join('/', levels);
        return TopicFilter.Parse(filter.Length == 0 ? "+" : filter);
    }
}
