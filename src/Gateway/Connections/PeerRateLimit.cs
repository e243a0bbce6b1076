using System.Threading.RateLimiting;

namespace Gateway.Connections;

/// <summary>
/// One peer's budget of messages and bytes per second: two token buckets of System.Threading.RateLimiting, refilled by
/// the connection heartbeat once a second, so a peer costs no timer. The protocol's inbound adapter asks it about each
/// message it reads; under <see cref="RateLimitBreach.Pause"/> it waits for the next refill before reading on.
/// </summary>
internal sealed class PeerRateLimit
{
    private readonly TokenBucketRateLimiter? _messages;
    private readonly TokenBucketRateLimiter? _bytes;
    private readonly int _byteBurst;
    private readonly Lock _lock = new();
    private TaskCompletionSource? _refilled;

    /// <param name="breach">The endpoint's policy, after the protocol's default was applied.</param>
    public PeerRateLimit(RateLimitOptions options, RateLimitBreach breach)
    {
        Breach = breach;
        if (options.MessagesPerSecond is { } messages)
            _messages = Bucket(messages, options.MessageBurst ?? messages);
        if (options.BytesPerSecond is { } bytes)
        {
            _byteBurst = options.ByteBurst ?? bytes;
            _bytes = Bucket(bytes, _byteBurst);
        }
    }

    /// <summary>What a message over the budget gets.</summary>
    public RateLimitBreach Breach { get; }

    /// <summary>Takes one message of <paramref name="length"/> bytes from the budget; false when it is over the budget.</summary>
    /// <remarks>
    /// A message larger than the byte burst takes the whole burst: it passes when the bucket is full, so a limit never
    /// refuses for good a message the framing accepts. A bucket takes no tokens back, so a message refused for its bytes
    /// has still spent its message token: a peer over its byte rate is slowed in messages too.
    /// </remarks>
    public bool TryAcquire(int length)
    {
        if (_messages is not null)
        {
            using var message = _messages.AttemptAcquire();
            if (!message.IsAcquired) return false;
        }

        if (_bytes is null || length == 0) return true;
        using var bytes = _bytes.AttemptAcquire(Math.Min(length, _byteBurst));
        return bytes.IsAcquired;
    }

    /// <summary>Completes at the next refill: the read loop of a paused peer waits here before it reads on.</summary>
    public Task WaitForRefillAsync()
    {
        lock (_lock)
        {
            _refilled ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            return _refilled.Task;
        }
    }

    /// <summary>Adds a second's tokens to each bucket and wakes a paused peer; from the connection heartbeat.</summary>
    public void Refill()
    {
        _messages?.TryReplenish();
        _bytes?.TryReplenish();
        TaskCompletionSource? refilled;
        lock (_lock)
        {
            refilled = _refilled;
            _refilled = null;
        }

        refilled?.TrySetResult();
    }

    private static TokenBucketRateLimiter Bucket(int perSecond, int burst) => new(new TokenBucketRateLimiterOptions
    {
        TokenLimit = burst,
        TokensPerPeriod = perSecond,
        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
        AutoReplenishment = false,
        QueueLimit = 0,
    });
}
