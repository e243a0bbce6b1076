using Gateway.Protocols.Topics;

namespace Gateway.Protocols.Tests.Topics;

public class TopicTests
{
    [Theory]
    [InlineData("a")]
    [InlineData("devices/42/up")]
    [InlineData("a//b")]
    [InlineData("/leading/and/trailing/")]
    [InlineData("$SYS/uptime")]
    public void Valid_topics_are_accepted(string topic)
    {
        Assert.True(Topic.IsValid(topic, out string? error), error);
        Topic.Validate(topic);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("a/+", "wildcard '+'")]
    [InlineData("a/#", "wildcard '#'")]
    [InlineData("a\0b", "control character U+0000 at position 1")]
    [InlineData("a/\nb", "control character U+000A at position 2")]
    [InlineData("\x1b[31m", "control character U+001B at position 0")]
    [InlineData("a\x7f", "control character U+007F at position 1")]
    public void Invalid_topics_are_rejected_with_the_reason(string topic, string reason)
    {
        Assert.False(Topic.IsValid(topic, out string? error));
        Assert.Contains(reason, error);
        Assert.Contains(reason, Assert.Throws<TopicException>(() => Topic.Validate(topic)).Message);
    }

    [Fact]
    public void Topic_of_1024_characters_is_accepted_and_1025_rejected()
    {
        Assert.True(Topic.IsValid(new string('a', Topic.MaxLength), out _));
        Assert.False(Topic.IsValid(new string('a', Topic.MaxLength + 1), out string? error));
        Assert.Contains("1025 characters", error);
    }
}
