using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Gateway.Configuration;
using Gateway.Observability;

namespace Gateway.Security;

/// <summary>
/// <c>Gateway:Security</c> made ready: each identity's permissions, the API keys, and how many publishes were denied
/// on each endpoint.
/// </summary>
internal sealed class PermissionPolicy
{
    /// <summary>How log lines name a peer without an identity.</summary>
    public const string Anonymous = "anonymous";

    private readonly Dictionary<string, TopicPermissions> _byIdentity;
    private readonly TopicPermissions _default;
    private readonly ConcurrentDictionary<string, StrongBox<long>> _deniedPublishes = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, LogThrottle> _publishDeniedLines = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, LogThrottle> _subscribeDeniedLines = new(StringComparer.OrdinalIgnoreCase);

    public PermissionPolicy(IOptions<GatewayOptions> options)
    {
        var security = options.Value.Security;
        RequiresAuthentication = security.RequireAuthentication;
        ApiKeys = new ApiKeys(security.ApiKeys);
        _byIdentity = security.Permissions.ToDictionary(pair => pair.Key, pair => TopicPermissions.From(pair.Value), StringComparer.OrdinalIgnoreCase);
        var configured = _byIdentity.Count > 0 || security.DefaultPermissions is not null;
        _default = security.DefaultPermissions is { } fallback ? TopicPermissions.From(fallback)
            : configured ? TopicPermissions.None
            : TopicPermissions.Unrestricted;
    }

    /// <summary>Whether HTTP API and WebSocket callers must present an API key or a client certificate.</summary>
    public bool RequiresAuthentication { get; }

    public ApiKeys ApiKeys { get; }

    /// <summary>The permissions of <paramref name="identity"/>; null is an anonymous peer.</summary>
    public TopicPermissions For(string? identity) =>
        identity is not null && _byIdentity.TryGetValue(identity, out var permissions) ? permissions : _default;

    /// <summary>The permissions of one peer, which report its denials on <paramref name="endpoint"/> through <paramref name="logger"/>.</summary>
    public PeerAccess ForPeer(string? identity, string endpoint, string connectionId, ILogger logger) =>
        new(this, For(identity), logger, endpoint, connectionId, identity);

    /// <summary>Counts a denied publish (of one message) on <paramref name="endpoint"/>; returns the endpoint's total.</summary>
    public long OnPublishDenied(string endpoint) =>
        Interlocked.Increment(ref _deniedPublishes.GetOrAdd(endpoint, static _ => new StrongBox<long>()).Value);

    /// <summary>
    /// The throttle of the denied-publish lines of <paramref name="endpoint"/>, made on first use with the logger of its
    /// first denial (an endpoint's peers share their protocol's logger). Each peer logs only its first denial; this
    /// bounds the lines of many peers denied at once.
    /// </summary>
    public LogThrottle PublishDeniedLines(string endpoint, ILogger logger) =>
        _publishDeniedLines.GetOrAdd(endpoint, static (endpoint, logger) => new LogThrottle(logger, $"denied publishes on {endpoint}"), logger);

    /// <summary>The throttle of the denied-subscription lines of <paramref name="endpoint"/>: a WebSocket client can ask for a forbidden filter at will.</summary>
    public LogThrottle SubscribeDeniedLines(string endpoint, ILogger logger) =>
        _subscribeDeniedLines.GetOrAdd(endpoint, static (endpoint, logger) => new LogThrottle(logger, $"denied subscriptions on {endpoint}"), logger);

    /// <summary>Publishes denied on <paramref name="endpoint"/> since start.</summary>
    public long DeniedPublishes(string endpoint) =>
        _deniedPublishes.TryGetValue(endpoint, out var count) ? Volatile.Read(ref count.Value) : 0;
}
