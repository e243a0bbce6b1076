using Gateway.Protocols.Topics;

namespace Gateway.Connections;

/// <summary>
/// An endpoint's <c>Publish</c> and <c>Subscribe</c> settings, parsed once at start as templates and rendered for each
/// connection ({endpoint}, {connectionId}, {remote}, {clientId}), so a connection publishes to a ready string.
/// </summary>
internal sealed class EndpointTopics
{
    public EndpointTopics(string? publish, IEnumerable<string> subscribe)
    {
        Publish = publish is null ? null : TopicTemplate.Parse(publish, TemplateKind.Topic);
        Subscribe = [.. subscribe.Select(filter => TopicTemplate.Parse(filter, TemplateKind.Filter))];
    }

    public TopicTemplate? Publish { get; }

    public IReadOnlyList<TopicTemplate> Subscribe { get; }

    /// <summary>The publish topic (null when the endpoint publishes nothing) and the subscription filters of one connection.</summary>
    /// <exception cref="TopicException">A template renders an invalid topic or filter for these values.</exception>
    public (string? Publish, TopicFilter[] Subscribe) Render(in TopicTemplateValues values)
    {
        var filters = new TopicFilter[Subscribe.Count];
        for (var i = 0; i < filters.Length; i++)
            filters[i] = Subscribe[i].RenderFilter(values);
        return (Publish?.Render(values), filters);
    }
}
