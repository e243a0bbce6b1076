using Gateway.Protocols.Topics;

namespace Gateway.Protocols.Tests.Topics;

public class TopicFilterTests
{
    [Theory]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/c", false)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("a/b", "a", false)]
    [InlineData("a/+", "a/b", true)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/+", "a", false)]
    [InlineData("a/+", "a/", true)]
    [InlineData("+/+", "a/b", true)]
    [InlineData("+/+", "a", false)]
    [InlineData("+/+", "/b", true)]
    [InlineData("+", "a", true)]
    [InlineData("+", "a/b", false)]
    [InlineData("a/+/c", "a/b/c", true)]
    [InlineData("a/+/c", "a//c", true)]
    [InlineData("a/+/c", "a/b/d", false)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/#", "a/b", true)]
    [InlineData("a/#", "a/b/c", true)]
    [InlineData("a/#", "ab", false)]
    [InlineData("a/#", "b/a", false)]
    [InlineData("#", "a", true)]
    [InlineData("#", "a/b/c", true)]
    [InlineData("#", "/", true)]
    [InlineData("+/#", "a", true)]
    [InlineData("+/#", "a/b/c", true)]
    [InlineData("a/+/#", "a", false)]
    [InlineData("a/+/#", "a/b", true)]
    [InlineData("a//b", "a//b", true)]
    [InlineData("a//b", "a/b", false)]
    [InlineData("a/+/b", "a//b", true)]
    [InlineData("devices/+/up", "devices/42/up", true)]
    [InlineData("devices/+/up", "devices/42/down", false)]
    public void Matches_follows_MQTT_wildcard_rules(string filter, string topic, bool expected)
    {
        Assert.Equal(expected, TopicFilter.Parse(filter).Matches(topic));
        Assert.Equal(expected, TopicFilter.Parse(filter).Matches(topic.AsSpan()));
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("a/#/b", "'#' at position 2 must be the last level")]
    [InlineData("a+", "'+' at position 1 must occupy a whole level")]
    [InlineData("a/b#", "'#' at position 3 must occupy a whole level")]
    [InlineData("##", "'#' at position 0 must occupy a whole level")]
    [InlineData("+a/b", "'+' at position 0 must occupy a whole level")]
    [InlineData("a\0", "control character U+0000")]
    [InlineData("a/\r/#", "control character U+000D")]
    [InlineData("+/\x7f", "control character U+007F")]
    public void Invalid_filters_are_rejected_with_a_clear_message(string filter, string reason)
    {
        var error = Assert.Throws<TopicException>(() => TopicFilter.Parse(filter));

        Assert.Contains(reason, error.Message);
        Assert.False(TopicFilter.TryParse(filter, out TopicFilter? parsed, out string? tryError));
        Assert.Null(parsed);
        Assert.Equal(error.Message, tryError);
    }

    [Fact]
    public void Filter_longer_than_1024_characters_is_rejected()
    {
        Assert.True(TopicFilter.TryParse(new string('a', Topic.MaxLength), out _, out _));
        Assert.False(TopicFilter.TryParse(new string('a', Topic.MaxLength + 1), out _, out string? error));
        Assert.Contains("1024", error);
    }

    [Theory]
    [InlineData("a/b", false)]
    [InlineData("a/+", true)]
    [InlineData("#", true)]
    public void IsWildcard_tells_whether_the_filter_has_a_wildcard_level(string filter, bool expected)
    {
        Assert.Equal(expected, TopicFilter.Parse(filter).IsWildcard);
    }

    [Fact]
    public void Filters_with_the_same_text_are_equal_and_print_as_their_text()
    {
        TopicFilter filter = TopicFilter.Parse("a/+/c");

        Assert.Equal(TopicFilter.Parse("a/+/c"), filter);
        Assert.Equal(TopicFilter.Parse("a/+/c").GetHashCode(), filter.GetHashCode());
        Assert.NotEqual(TopicFilter.Parse("a/+"), filter);
        Assert.Equal("a/+/c", filter.ToString());
        Assert.Equal("a/+/c", filter.Value);
    }

    [Fact]
    public void Matching_does_not_allocate()
    {
        TopicFilter filter = TopicFilter.Parse("devices/+/telemetry/#");
        const string topic = "devices/42/telemetry/temperature/celsius";
        filter.Matches(topic);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 1000; i++)
        {
            filter.Matches(topic);
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }

    [Theory]
    [InlineData("#", "a/b/c", true)]
    [InlineData("#", "#", true)]
    [InlineData("a/#", "a", true)]
    [InlineData("a/#", "a/#", true)]
    [InlineData("a/#", "a/+/c", true)]
    [InlineData("a/#", "b/#", false)]
    [InlineData("a/#", "#", false)]
    [InlineData("a/+", "a/b", true)]
    [InlineData("a/+", "a/+", true)]
    [InlineData("a/+", "a/#", false)]
    [InlineData("a/+", "a", false)]
    [InlineData("a/+", "a/b/c", false)]
    [InlineData("a/b", "a/+", false)]
    [InlineData("a/b", "a/b", true)]
    [InlineData("a/b", "a/b/c", false)]
    [InlineData("devices/+/down", "devices/device1/down", true)]
    [InlineData("devices/device1/down", "devices/+/down", false)]
    [InlineData("+/+/#", "a/b", true)]
    [InlineData("+/+/#", "a", false)]
    public void A_filter_includes_a_narrower_one_when_every_topic_of_the_narrower_matches_it(string filter, string narrower, bool expected)
    {
        Assert.Equal(expected, TopicFilter.Parse(filter).Includes(TopicFilter.Parse(narrower)));
    }

    [Fact]
    public void Includes_agrees_with_Matches_on_every_pair_of_sample_filters()
    {
        string[] filters = ["#", "+", "a", "b", "a/#", "a/+", "a/b", "+/b", "+/+", "a/+/c", "a/b/c", "a/b/#", "+/#", "a//c", "a/+/#"];
        string[] topics = ["a", "b", "a/b", "a/c", "b/b", "a/b/c", "a/x/c", "a/b/d", "a//c", "a/", "/b", "c/b/a", "a/b/c/d"];
        foreach (var wide in filters.Select(TopicFilter.Parse))
        {
            foreach (var narrow in filters.Select(TopicFilter.Parse))
            {
                // Inclusion claimed: no sample topic may match the narrower filter but not the wider one.
                if (wide.Includes(narrow))
                    Assert.All(topics.Where(narrow.Matches), topic => Assert.True(wide.Matches(topic), $"{wide} includes {narrow} but not {topic}"));
                // Inclusion denied: some topic (samples, or the narrower filter's own text with wildcards filled in) shows why.
                else
                    Assert.True(topics.Append(Fill(narrow.Value, "z")).Append(Fill(narrow.Value, "a")).Any(topic => narrow.Matches(topic) && !wide.Matches(topic)),
                        $"{wide} does not include {narrow}, but no topic shows it");
            }
        }
    }

    private static string Fill(string filter, string name) =>
        filter.Replace("#", name + "/" + name, StringComparison.Ordinal).Replace("+", name, StringComparison.Ordinal);
}
