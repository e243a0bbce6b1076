using Gateway.Observability;

namespace Gateway.Connections;

/// <summary>
/// The message and byte rate limits of one endpoint's peers (its <c>Limits</c> section): each session takes its own
/// <see cref="PeerRateLimit"/> from here, and reports here each breach, which is counted by reason and logged within the
/// bounds of one <see cref="LogThrottle"/>, as a peer causes breaches at will.
/// </summary>
internal sealed class EndpointRateLimits
{
    private readonly RateLimitOptions _options;
    private readonly RejectionCounter _refused;
    private readonly RejectionCounter _paused;
    private readonly LogThrottle _log;
    private readonly ILogger _logger;

    /// <param name="setting">The section's path, which the log line names: "Gateway:Endpoints:echo:Limits".</param>
    /// <param name="breach">What a breach does when the section does not say: Pause where the protocol can pause.</param>
    private EndpointRateLimits(string endpoint, string setting, RateLimitOptions options, RateLimitBreach breach, Rejections rejections, ILogger logger)
    {
        _options = options;
        Setting = setting;
        Breach = options.OnBreach ?? breach;
        _refused = rejections.For(endpoint, RejectionReasons.RateLimited);
        _paused = rejections.For(endpoint, RejectionReasons.RatePaused);
        _logger = logger;
        _log = new LogThrottle(logger, $"rate-limit breaches on {endpoint}");
    }

    public string Setting { get; }

    public RateLimitBreach Breach { get; }

    /// <summary>The limits of an endpoint whose section sets a message or byte rate; null when it sets none, so its peers cost nothing.</summary>
    public static EndpointRateLimits? For(string endpoint, string setting, RateLimitOptions options, RateLimitBreach breach, Rejections rejections, ILogger logger) =>
        options.LimitsPeers ? new EndpointRateLimits(endpoint, setting, options, breach, rejections, logger) : null;

    /// <summary>A new peer's own budget.</summary>
    public PeerRateLimit ForPeer() => new(_options, Breach);

    /// <summary>Counts a breach by what it does (paused, or refused: dropped or disconnected) and logs it while the throttle allows.</summary>
    public void OnBreach(ConnectionSession session)
    {
        var count = Breach == RateLimitBreach.Pause ? _paused.Increment() : _refused.Increment();
        if (_log.Allow())
            ConnectionLog.RateLimited(_logger, session.Id, session.Protocol, session.Endpoint, session.RemoteAddress, session.IdentityName, Setting,
                Breach switch
                {
                    RateLimitBreach.Pause => "paused until its budget refills",
                    RateLimitBreach.Drop => "its message is dropped",
                    _ => "disconnected",
                },
                count);
    }
}
