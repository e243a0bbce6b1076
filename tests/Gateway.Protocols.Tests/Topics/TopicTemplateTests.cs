using Gateway.Protocols.Topics;

namespace Gateway.Protocols.Tests.Topics;

public class TopicTemplateTests
{
    private static readonly TopicTemplateValues Values = new("tcp-echo", "0HN1", "127.0.0.1:5000", "sensor-7");

    [Fact]
    public void Placeholders_are_filled_in()
    {
        TopicTemplate template = TopicTemplate.Parse("{endpoint}/{clientId}/from/{remote}/{connectionId}", TemplateKind.Topic);

        Assert.Equal("tcp-echo/sensor-7/from/127.0.0.1:5000/0HN1", template.Render(Values));
        Assert.Equal(["endpoint", "clientId", "remote", "connectionId"], template.Placeholders);
        Assert.False(template.IsConstant);
        Assert.True(template.RequiresClientId);
    }

    [Fact]
    public void Constant_template_renders_as_itself()
    {
        TopicTemplate template = TopicTemplate.Parse("telemetry/all", TemplateKind.Topic);

        Assert.True(template.IsConstant);
        Assert.Empty(template.Placeholders);
        Assert.Equal("telemetry/all", template.Render(Values));
        Assert.Equal("telemetry/all", template.Template);
    }

    [Fact]
    public void Repeated_placeholder_is_listed_once()
    {
        TopicTemplate template = TopicTemplate.Parse("{clientId}/x/{clientId}", TemplateKind.Topic);

        Assert.Equal(["clientId"], template.Placeholders);
        Assert.Equal("sensor-7/x/sensor-7", template.Render(Values));
    }

    [Theory]
    [InlineData("a/b", "a_b")]
    [InlineData("+", "_")]
    [InlineData("#", "_")]
    [InlineData("x\0y", "x_y")]
    [InlineData("x\ny\x7f", "x_y_")]
    [InlineData("../+/#", "..____")]
    public void Values_cannot_add_levels_wildcards_or_control_characters(string clientId, string expected)
    {
        TopicTemplate template = TopicTemplate.Parse("devices/{clientId}/up", TemplateKind.Topic);

        Assert.Equal($"devices/{expected}/up", template.Render(Values with { ClientId = clientId }));
    }

    [Fact]
    public void Filter_template_renders_a_filter_with_its_own_wildcards_only()
    {
        TopicTemplate template = TopicTemplate.Parse("devices/{clientId}/#", TemplateKind.Filter);

        TopicFilter filter = template.RenderFilter(Values with { ClientId = "+" });

        Assert.Equal("devices/_/#", filter.Value);
        Assert.True(filter.Matches("devices/_/down/config"));
        Assert.False(filter.Matches("devices/other/down"));
    }

    [Fact]
    public void Missing_client_identity_is_an_error_when_the_template_needs_it()
    {
        TopicTemplate template = TopicTemplate.Parse("devices/{clientId}/up", TemplateKind.Topic);

        var error = Assert.Throws<TopicException>(() => template.Render(Values with { ClientId = null }));

        Assert.Contains("{clientId}", error.Message);
        Assert.Contains("no client identity", error.Message);
        Assert.Equal("e/tcp-echo", TopicTemplate.Parse("e/{endpoint}", TemplateKind.Topic).Render(Values with { ClientId = null }));
    }

    [Fact]
    public void Rendered_topic_over_the_length_limit_is_an_error()
    {
        TopicTemplate template = TopicTemplate.Parse("devices/{clientId}", TemplateKind.Topic);

        var error = Assert.Throws<TopicException>(() => template.Render(Values with { ClientId = new string('x', Topic.MaxLength) }));

        Assert.Contains("devices/{clientId}", error.Message);
        Assert.Contains("maximum is 1024", error.Message);
    }

    [Theory]
    [InlineData("a/{clientID}", TemplateKind.Topic, "unknown placeholder '{clientID}'")]
    [InlineData("a/{}", TemplateKind.Topic, "unknown placeholder '{}'")]
    [InlineData("a/{endpoint", TemplateKind.Topic, "unclosed '{' at position 2")]
    [InlineData("a/{end{point}", TemplateKind.Topic, "unclosed '{' at position 2")]
    [InlineData("a/endpoint}", TemplateKind.Topic, "'}' without a matching '{' at position 10")]
    [InlineData("a/+/{clientId}", TemplateKind.Topic, "wildcard '+'")]
    [InlineData("a/{clientId}/#", TemplateKind.Topic, "wildcard '#'")]
    [InlineData("a/#/{clientId}", TemplateKind.Filter, "must be the last level")]
    [InlineData("a/{clientId}+", TemplateKind.Filter, "must occupy a whole level")]
    [InlineData("", TemplateKind.Topic, "empty")]
    public void Invalid_templates_are_rejected_naming_the_template_and_the_problem(string text, TemplateKind kind, string problem)
    {
        var error = Assert.Throws<TopicException>(() => TopicTemplate.Parse(text, kind));

        Assert.Contains(problem, error.Message);
        if (text.Length > 0)
        {
            Assert.Contains($"'{text}'", error.Message);
        }
    }

    [Fact]
    public void Topic_template_can_also_render_as_an_exact_filter()
    {
        TopicFilter filter = TopicTemplate.Parse("replies/{connectionId}", TemplateKind.Topic).RenderFilter(Values);

        Assert.False(filter.IsWildcard);
        Assert.True(filter.Matches("replies/0HN1"));
    }
}
