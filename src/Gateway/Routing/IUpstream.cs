using Gateway.Messaging;

namespace Gateway.Routing;

/// <summary>
/// A route's outbound adapter: sends one message to the upstream service, with the route's retries and timeouts, and
/// says how it went. One per route; <see cref="SendAsync"/> is called for up to the route's window of messages at once.
/// </summary>
internal interface IUpstream : IAsyncDisposable
{
    /// <summary>Where the messages go, as the admin API and the log lines show it: the URL, or "tcp://host:port".</summary>
    string Destination { get; }

    /// <summary>Its circuit breaker, which the route reads for the admin API and readiness.</summary>
    UpstreamCircuit Circuit { get; }

    /// <summary>
    /// Starts what the upstream keeps open (a TCP connection and its reader, a UDP socket); frames or datagrams the
    /// upstream sends of its own go to <paramref name="onAnswer"/>.
    /// </summary>
    Task StartAsync(Action<byte[]> onAnswer, CancellationToken cancellationToken);

    /// <summary>
    /// Sends the message, retrying as configured. Ends with its outcome rather than an exception; throws only
    /// <see cref="OperationCanceledException"/> when <paramref name="cancellationToken"/> ends it (its TTL, or the stop).
    /// </summary>
    Task<UpstreamResult> SendAsync(Message message, CancellationToken cancellationToken);
}

/// <summary>What became of one message at the upstream.</summary>
internal enum UpstreamStatus
{
    /// <summary>Taken: a 2xx answer, or written to the TCP connection or the UDP socket.</summary>
    Succeeded,

    /// <summary>Refused or failed after every retry: a non-2xx answer, a connection that failed each time, a timeout.</summary>
    Failed,

    /// <summary>Not attempted: the circuit is open. The message waits in the queue for it to close.</summary>
    Unavailable,
}

/// <param name="Error">What went wrong, for the admin API's last error; null on success.</param>
/// <param name="Answer">The answer's body, published to the reply topic (HTTP only); null when there is none.</param>
/// <param name="AnswerContentType">The answer's content type, when it has one.</param>
/// <param name="RetryAfter">When <see cref="UpstreamStatus.Unavailable"/>: how long until the circuit lets a trial through.</param>
internal readonly record struct UpstreamResult(UpstreamStatus Status, string? Error = null, byte[]? Answer = null, string? AnswerContentType = null,
    TimeSpan? RetryAfter = null)
{
    public static UpstreamResult Succeeded(byte[]? answer = null, string? contentType = null) => new(UpstreamStatus.Succeeded, null, answer, contentType);

    public static UpstreamResult Failed(string error) => new(UpstreamStatus.Failed, error);

    public static UpstreamResult Unavailable(string error, TimeSpan? retryAfter) => new(UpstreamStatus.Unavailable, error, RetryAfter: retryAfter);
}
