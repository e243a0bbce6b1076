namespace Gateway.Connections;

/// <summary>What a peer that sends faster than its rate limit gets.</summary>
public enum RateLimitBreach
{
    /// <summary>
    /// Stop reading from the peer until its budget refills, so TCP's own flow control slows it down (EMQX's way):
    /// nothing is lost. Stream protocols only; UDP cannot be paused.
    /// </summary>
    Pause,

    /// <summary>Drop what is over the budget, counted; the peer stays connected.</summary>
    Drop,

    /// <summary>Close the peer with its protocol's signal (a WebSocket close 1008, an HTTP 429 with Retry-After).</summary>
    Disconnect,
}

/// <summary>
/// The rate limits of an endpoint (its <c>Limits</c> section): each peer's messages and bytes per second, with bursts,
/// and the endpoint's rate of new connections and connections per source address. Every limit is off until set.
/// </summary>
public sealed class RateLimitOptions
{
    /// <summary>Messages per second one peer may send. Unset: no limit.</summary>
    public int? MessagesPerSecond { get; set; }

    /// <summary>Messages one peer may send at once, the size of its bucket; at least, and by default, <see cref="MessagesPerSecond"/>.</summary>
    public int? MessageBurst { get; set; }

    /// <summary>Payload bytes per second one peer may send. Unset: no limit.</summary>
    public int? BytesPerSecond { get; set; }

    /// <summary>Bytes one peer may send at once; at least, and by default, <see cref="BytesPerSecond"/>.</summary>
    public int? ByteBurst { get; set; }

    /// <summary>What a peer over its message or byte rate gets. Defaults to <see cref="RateLimitBreach.Pause"/>, where the protocol can pause.</summary>
    public RateLimitBreach? OnBreach { get; set; }

    /// <summary>New connections per second the endpoint accepts; those over it are closed at once. Unset: no limit.</summary>
    public int? ConnectionsPerSecond { get; set; }

    /// <summary>New connections the endpoint accepts at once; at least, and by default, <see cref="ConnectionsPerSecond"/>.</summary>
    public int? ConnectionBurst { get; set; }

    /// <summary>Open connections one source address may hold on the endpoint; more are closed at once. Unset: no limit.</summary>
    public int? MaxConnectionsPerAddress { get; set; }

    /// <summary>Whether a peer's messages or bytes are limited.</summary>
    public bool LimitsPeers => MessagesPerSecond is not null || BytesPerSecond is not null;

    /// <summary>The problems of these settings, each naming its setting under <paramref name="path"/>.</summary>
    /// <param name="canPause">Whether the protocol can pause a peer (UDP cannot).</param>
    /// <param name="sendsMessages">Whether the peers send messages at all: an event stream only receives, so only its connection limits apply.</param>
    public IEnumerable<string> Validate(string path, bool canPause, bool sendsMessages = true)
    {
        if (!sendsMessages && (LimitsPeers || OnBreach is not null))
            yield return $"{path} can limit new connections and connections per address only: its peers send no messages (remove MessagesPerSecond, BytesPerSecond and OnBreach).";
        foreach (var problem in CheckRate(path, nameof(MessagesPerSecond), MessagesPerSecond, nameof(MessageBurst), MessageBurst)) yield return problem;
        foreach (var problem in CheckRate(path, nameof(BytesPerSecond), BytesPerSecond, nameof(ByteBurst), ByteBurst)) yield return problem;
        foreach (var problem in CheckRate(path, nameof(ConnectionsPerSecond), ConnectionsPerSecond, nameof(ConnectionBurst), ConnectionBurst)) yield return problem;
        if (MaxConnectionsPerAddress is <= 0)
            yield return $"{path}:{nameof(MaxConnectionsPerAddress)} must be positive (was {MaxConnectionsPerAddress}); leave it unset for no limit.";
        if (OnBreach == RateLimitBreach.Pause && !canPause)
            yield return $"{path}:{nameof(OnBreach)} cannot be Pause here: a datagram peer cannot be paused; use Drop or Disconnect.";
    }

    private static IEnumerable<string> CheckRate(string path, string rateName, int? rate, string burstName, int? burst)
    {
        if (rate is <= 0)
            yield return $"{path}:{rateName} must be positive (was {rate}); leave it unset for no limit.";
        if (burst is { } size && (rate is null || size < rate))
            yield return rate is null
                ? $"{path}:{burstName} needs {path}:{rateName}."
                : $"{path}:{burstName} must be at least {rateName} ({rate}) (was {size}).";
    }
}
