using Gateway.Protocols.Topics;

namespace Gateway.Security;

/// <summary>
/// One peer's permissions at work: checks its publishes and subscriptions, counts each denied message on its
/// endpoint and logs the first, so a device that keeps sending where it may not cannot flood the log. That first line
/// goes through the endpoint's throttle, so many peers denied at once cannot flood it either.
/// </summary>
internal sealed class PeerAccess(PermissionPolicy policy, TopicPermissions permissions, ILogger logger, string endpoint, string connectionId, string? identity)
{
    private int _publishDeniedLogged;

    public bool MayPublish(string topic) => permissions.MayPublish(topic);

    /// <summary>Counts a message dropped because its sender may not publish to <paramref name="topic"/>.</summary>
    public void OnPublishDenied(string topic)
    {
        var denied = policy.OnPublishDenied(endpoint);
        if (Interlocked.Exchange(ref _publishDeniedLogged, 1) == 0 && policy.PublishDeniedLines(endpoint, logger).Allow())
            SecurityLog.PublishDenied(logger, topic, identity ?? PermissionPolicy.Anonymous, endpoint, connectionId, denied);
    }

    /// <summary>Whether the peer may subscribe to <paramref name="filter"/>; a refusal is logged, within the endpoint's throttle.</summary>
    public bool MaySubscribe(TopicFilter filter)
    {
        if (permissions.MaySubscribe(filter)) return true;
        if (policy.SubscribeDeniedLines(endpoint, logger).Allow())
            SecurityLog.SubscribeDenied(logger, filter.Value, identity ?? PermissionPolicy.Anonymous, endpoint, connectionId);
        return false;
    }
}
