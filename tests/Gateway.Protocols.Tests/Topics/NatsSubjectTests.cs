using FsCheck;
using FsCheck.Fluent;
using Gateway.Protocols.Topics;

namespace Gateway.Protocols.Tests.Topics;

public class NatsSubjectTests
{
    private const string Prefix = "gw";
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(2000);

    [Theory]
    [InlineData("sensors/t1", "gw.sensors.t1")]
    [InlineData("udp/127.0.0.1:5000", "gw.udp.127%2E0%2E0%2E1:5000")]
    [InlineData("a//b", "gw.a.%.b")]
    [InlineData("/", "gw.%.%")]
    [InlineData("a b/*/>/100%", "gw.a%20b.%2A.%3E.100%25")]
    [InlineData("温度/é", "gw.%E6%B8%A9%E5%BA%A6.%C3%A9")]
    [InlineData("$SYS/x", "gw.$SYS.x")]
    public void A_topic_maps_to_its_subject_and_back(string topic, string subject)
    {
        Assert.True(NatsSubject.TryFromTopic(Prefix, topic, out var mapped));
        Assert.Equal(subject, mapped);
        Assert.True(NatsSubject.TryToTopic(Prefix, subject, out var back));
        Assert.Equal(topic, back);
    }

    [Theory]
    [InlineData("sensors/+", "gw.sensors.*")]
    [InlineData("#", "gw.>")]
    [InlineData("a/#", "gw.a.>", "gw.a")]
    [InlineData("+/#", "gw.*.>", "gw.*")]
    [InlineData("a/+/c.d/#", "gw.a.*.c%2Ed.>", "gw.a.*.c%2Ed")]
    [InlineData("a//+", "gw.a.%.*")]
    public void A_filter_maps_to_its_subjects(string filter, params string[] subjects)
    {
        Assert.True(NatsSubject.TryFromFilter(Prefix, TopicFilter.Parse(filter), out var mapped));
        Assert.Equal(subjects, mapped);
    }

    [Theory]
    [InlineData("gw")]
    [InlineData("gw.")]
    [InlineData("other.a")]
    [InlineData("gwx.a")]
    [InlineData("gw.a..b")] // an empty token NATS would not carry
    [InlineData("gw.a%2e")] // lower-case hex
    [InlineData("gw.a%41")] // 'A' escaped, which travels plain
    [InlineData("gw.a%2")]
    [InlineData("gw.a%")]
    [InlineData("gw.a/b")] // one token cannot be two levels
    [InlineData("gw.a+")]
    [InlineData("gw.%00")] // NUL, which no topic holds
    [InlineData("gw.a%09b")] // a tab: no topic holds a control character
    [InlineData("gw.a%7F")] // DEL, likewise
    [InlineData("gw.é")] // non-ASCII travels escaped
    [InlineData("gw.%C3")] // half a character
    [InlineData("gw.%C0%AF")] // an overlong '/'
    public void A_subject_this_mapping_does_not_write_has_no_topic(string subject)
    {
        Assert.False(NatsSubject.TryToTopic(Prefix, subject, out _));
    }

    [Fact]
    public void A_topic_with_a_lone_surrogate_has_no_subject()
    {
        Assert.False(NatsSubject.TryFromTopic(Prefix, "a/\ud800b", out _));
    }

    [Fact]
    public void A_topic_whose_subject_exceeds_the_limit_has_none()
    {
        // 1,000 non-ASCII characters escape to 9,000 bytes, past what a NATS server accepts on one protocol line.
        Assert.False(NatsSubject.TryFromTopic(Prefix, new string('温', 1000), out _));
        Assert.True(NatsSubject.TryFromTopic(Prefix, new string('a', 1024), out _));
    }

    [Theory]
    [InlineData("gw", true)]
    [InlineData("prod.gw", true)]
    [InlineData("", false)]
    [InlineData("gw.", false)]
    [InlineData("gw.*", false)]
    [InlineData("g w", false)]
    [InlineData("gw.>", false)]
    public void Prefixes_are_literal_subject_tokens(string prefix, bool valid)
    {
        Assert.Equal(valid, NatsSubject.IsValidPrefix(prefix));
    }

    [Fact]
    public void Every_generated_topic_round_trips()
    {
        Check.One(s_config, Prop.ForAll(Topics().ToArbitrary(), topic =>
        {
            Assert.True(NatsSubject.TryFromTopic(Prefix, topic, out var subject), topic);
            Assert.True(NatsSubject.TryToTopic(Prefix, subject, out var back), subject);
            Assert.Equal(topic, back);
        }));
    }

    [Fact]
    public void A_topic_matches_a_filter_exactly_when_its_subject_matches_one_of_the_filters_subjects()
    {
        var input = Gen.Zip(Topics(), Gen.Zip(Topics(), Gen.Choose(0, int.MaxValue)))
            .Select(sample => (Topic: sample.Item1, Filter: Filter(sample.Item1, sample.Item2.Item1, sample.Item2.Item2)));
        var matched = 0;
        Check.One(s_config, Prop.ForAll(input.ToArbitrary(), sample =>
        {
            var (topic, filter) = sample;
            Assert.True(NatsSubject.TryFromTopic(Prefix, topic, out var subject));
            Assert.True(NatsSubject.TryFromFilter(Prefix, filter, out var subjects));
            var local = filter.Matches(topic);
            Assert.True(local == subjects.Any(pattern => NatsRules.Matches(pattern, subject)), $"topic '{topic}' ({subject}), filter '{filter}' ({string.Join(", ", subjects)}): local {local}");
            if (local) matched++;
        }));

        // The generator is built to hit both answers often; a property that only ever saw "no match" proves little.
        Assert.InRange(matched, 300, 1900);
    }

    /// <summary>Levels drawn mostly from a few names, so filters and topics meet, and from the characters the mapping escapes.</summary>
    internal static Gen<string> Topics()
    {
        var character = Gen.Frequency(
            (6, Gen.Elements('a', 'b', 'c')),
            (4, Gen.Elements('.', '*', '>', '%', ' ', '$', ':', 'é', '温', '~', '-')));
        var level = Gen.Frequency(
            (5, Gen.Elements("a", "b", "c", "a.b", "*", ">", "%", "温度", "😀")),
            (3, Gen.Choose(0, 4).SelectMany(length => Gen.ArrayOf(character, length)).Select(chars => new string(chars))),
            (1, Gen.Constant("")));
        return Gen.Choose(1, 5).SelectMany(count => Gen.ArrayOf(level, count)).Select(levels => string.Join('/', levels))
            .Select(topic => topic.Length == 0 ? "a" : topic); // one empty level is no topic
    }

    /// <summary>A filter made from <paramref name="topic"/> (so it often matches) or from <paramref name="other"/>, with some levels '+' and maybe a final '#'.</summary>
    private static TopicFilter Filter(string topic, string other, int seed)
    {
        var random = new Random(seed);
        var levels = (random.Next(3) == 0 ? other : topic).Split('/').ToList();
        for (var i = 0; i < levels.Count; i++)
        {
            if (random.Next(4) == 0) levels[i] = "+";
        }

        switch (random.Next(5))
        {
            case 0: levels.Add("#"); break;
            case 1: levels[^1] = "#"; break;
            case 2 when levels.Count > 1: levels.RemoveAt(levels.Count - 1); break;
        }

        var filter = string.Join('/', levels);
        return TopicFilter.Parse(filter.Length == 0 ? "+" : filter);
    }

    /// <summary>
    /// NATS's subject matching (nats-server's sublist): tokens split by '.', '*' matches one token, '>' the one or more
    /// tokens left. The functional tests check these rules against a real nats-server.
    /// </summary>
    internal static class NatsRules
    {
        public static bool Matches(string pattern, string subject)
        {
            var patternTokens = pattern.Split('.');
            var subjectTokens = subject.Split('.');
            for (var i = 0; i < patternTokens.Length; i++)
            {
                if (patternTokens[i] == ">") return subjectTokens.Length > i;
                if (i >= subjectTokens.Length) return false;
                if (patternTokens[i] != "*" && patternTokens[i] != subjectTokens[i]) return false;
            }

            return patternTokens.Length == subjectTokens.Length;
        }
    }
}
