using System.Collections.Concurrent;

namespace Gateway.Connections;

/// <summary>
/// What the gateway's limits refused, by endpoint and reason: connections over a cap, messages over a rate, frames
/// over a size, protocol violations. Every limit counts its refusals here, so the metrics
/// (<c>gateway.rejections</c>) and <c>GET /api/endpoints</c> show each one without naming the limits or the protocols.
/// </summary>
internal sealed class Rejections
{
    private readonly ConcurrentDictionary<(string Endpoint, string Reason), RejectionCounter> _counters = new();

    /// <summary>
    /// The counter of one endpoint and reason, made on first use. A caller that counts often (a rate limit under a flood)
    /// keeps it, so a refusal costs one interlocked increment.
    /// </summary>
    /// <param name="reason">Lower case, words joined by '_' (<see cref="RejectionReasons"/>).</param>
    public RejectionCounter For(string endpoint, string reason) =>
        _counters.GetOrAdd((endpoint, reason), static key => new RejectionCounter(key.Endpoint, key.Reason));

    /// <summary>Counts one refusal; returns the count so far, for a log line.</summary>
    public long Count(string endpoint, string reason) => For(endpoint, reason).Increment();

    /// <summary>The counts of one endpoint, by reason, in the order of the reasons' names.</summary>
    public SortedDictionary<string, long> Of(string endpoint)
    {
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var counter in _counters.Values)
        {
            if (counter.Endpoint == endpoint) counts[counter.Reason] = counter.Value;
        }

        return counts;
    }

    /// <summary>Every counter made so far.</summary>
    public IEnumerable<RejectionCounter> All => _counters.Values;
}

/// <summary>Refusals of one endpoint for one reason.</summary>
internal sealed class RejectionCounter(string endpoint, string reason)
{
    private long _value;

    public string Endpoint => endpoint;

    public string Reason => reason;

    public long Value => Volatile.Read(ref _value);

    public long Increment() => Interlocked.Increment(ref _value);
}

/// <summary>The reasons <see cref="Rejections"/> counts, as the metrics' <c>gateway.rejection.reason</c> and the admin API give them.</summary>
internal static class RejectionReasons
{
    /// <summary>A connection refused because the endpoint had MaxConnections open.</summary>
    public const string MaxConnections = "max_connections";

    /// <summary>A connection refused because its source address already held Limits:MaxConnectionsPerAddress.</summary>
    public const string MaxConnectionsPerAddress = "max_connections_per_address";

    /// <summary>A message refused (dropped, answered 429, or its peer disconnected) for being over its peer's rate limit.</summary>
    public const string RateLimited = "rate_limited";

    /// <summary>A connection refused because the endpoint's Limits:ConnectionsPerSecond were used up.</summary>
    public const string AcceptRate = "accept_rate";

    /// <summary>A UDP peer forgotten to make room for a new sender because the endpoint tracked MaxPeers.</summary>
    public const string MaxPeers = "max_peers";

    /// <summary>A peer refused because the endpoint's templates render no valid topic for it.</summary>
    public const string InvalidTopic = "invalid_topic";

    /// <summary>
    /// A connection, an HTTP request or a new UDP sender refused because the process is past its memory threshold
    /// (<c>Gateway:Overload</c>).
    /// </summary>
    public const string Overload = "overload";

    /// <summary>A peer paused (not read from) until its rate limit's budget refilled; nothing of it is lost.</summary>
    public const string RatePaused = "rate_paused";

    /// <summary>A WebSocket closed with 1002 or 1007 for a frame against RFC 6455 (unmasked, reserved bits, unknown opcode, invalid UTF-8...).</summary>
    public const string ProtocolViolation = "protocol_violation";

    /// <summary>A WebSocket closed with 1009 for a message over Gateway:Http:WebSocket:MaxMessageBytes.</summary>
    public const string MessageTooBig = "message_too_big";

    /// <summary>A framed connection closed because a frame it began stayed incomplete past the endpoint's FrameTimeout.</summary>
    public const string FrameTimeout = "frame_timeout";
}
