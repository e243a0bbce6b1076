using Gateway.Configuration;
using Gateway.Protocols.Topics;

namespace Gateway.Security;

/// <summary>What one identity may publish, subscribe to and administer.</summary>
internal sealed class TopicPermissions
{
    // Null: anything, when no permissions are configured at all.
    private readonly TopicFilter[]? _publish;
    private readonly TopicFilter[]? _subscribe;

    private TopicPermissions(TopicFilter[]? publish, TopicFilter[]? subscribe, bool isAdmin)
    {
        _publish = publish;
        _subscribe = subscribe;
        IsAdmin = isAdmin;
    }

    /// <summary>Everything allowed: the gateway without <c>Gateway:Security</c> permissions.</summary>
    public static TopicPermissions Unrestricted { get; } = new(null, null, isAdmin: true);

    /// <summary>Nothing allowed: an identity without an entry when there is no default entry.</summary>
    public static TopicPermissions None { get; } = new([], [], isAdmin: false);

    public bool IsAdmin { get; }

    /// <exception cref="TopicException">A filter is invalid (the validator reports it first).</exception>
    public static TopicPermissions From(PermissionOptions options) =>
        new([.. options.Publish.Select(TopicFilter.Parse)], [.. options.Subscribe.Select(TopicFilter.Parse)], options.Admin);

    public bool MayPublish(string topic)
    {
        if (_publish is null) return true;
        foreach (var filter in _publish)
        {
            if (filter.Matches(topic)) return true;
        }

        return false;
    }

    /// <summary>Whether <paramref name="filter"/> asks for nothing outside one of the allowed subscription filters.</summary>
    public bool MaySubscribe(TopicFilter filter)
    {
        if (_subscribe is null) return true;
        foreach (var allowed in _subscribe)
        {
            if (allowed.Includes(filter)) return true;
        }

        return false;
    }
}
