using System.Threading.RateLimiting;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Observability;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Http;

/// <summary>
/// The rate limits of <c>POST /api/topics/{topic}</c> (<c>Gateway:Http:Limits</c>): each client, its identity or else its
/// address, gets <c>MessagesPerSecond</c> publishes and <c>BytesPerSecond</c> of bodies, with their bursts, as token
/// buckets of System.Threading.RateLimiting partitioned by client.
/// </summary>
/// <remarks>
/// A publish over the budget gets 429 with <c>Retry-After</c>: under <c>Drop</c> at once, under <c>Disconnect</c> with
/// <c>Connection: close</c> too, and under <c>Pause</c> (the default) after waiting for tokens in a queue as deep as the
/// burst, so a client that sends a little too fast is slowed down rather than refused.
/// </remarks>
internal sealed class PublishRateLimit : IDisposable
{
    private readonly PartitionedRateLimiter<string>? _messages;
    private readonly PartitionedRateLimiter<string>? _bytes;
    private readonly int _byteBurst;
    private readonly RateLimitOptions _options;
    private readonly Rejections _rejections;
    private readonly Dictionary<string, LogThrottle> _logs;

    public PublishRateLimit(IOptions<GatewayOptions> gateway, Rejections rejections, ILoggerFactory loggers)
    {
        _options = gateway.Value.Http.Limits;
        _rejections = rejections;
        Breach = _options.OnBreach ?? RateLimitBreach.Pause;
        if (_options.MessagesPerSecond is { } messages)
            _messages = Partitioned(messages, _options.MessageBurst ?? messages);
        if (_options.BytesPerSecond is { } bytes)
        {
            _byteBurst = _options.ByteBurst ?? bytes;
            _bytes = Partitioned(bytes, _byteBurst);
        }

        var logger = loggers.CreateLogger("Gateway.Http");
        _logs = new Dictionary<string, LogThrottle>(StringComparer.Ordinal)
        {
            [HttpHost.Name] = new(logger, $"rate-limited publishes on {HttpHost.Name}"),
            [HttpHost.SecureName] = new(logger, $"rate-limited publishes on {HttpHost.SecureName}"),
        };
        Logger = logger;
    }

    public RateLimitBreach Breach { get; }

    private ILogger Logger { get; }

    /// <summary>
    /// Takes one publish from the caller's message budget, before its body is read. Null when admitted; else the problem
    /// to answer, the refusal counted and, within bounds, logged.
    /// </summary>
    public async ValueTask<ProblemHttpResult?> AdmitMessageAsync(HttpContext context, CancellationToken cancellation)
    {
        if (_messages is null) return null;
        var client = ClientOf(context);
        return await TryAcquireAsync(_messages, client, 1, cancellation).ConfigureAwait(false) is { } wait ? Refuse(context, client, wait) : null;
    }

    /// <summary>Takes a body of <paramref name="length"/> bytes from the caller's byte budget; as <see cref="AdmitMessageAsync"/>.</summary>
    /// <remarks>A body larger than the byte burst takes the whole burst, so it passes on a full bucket rather than never.</remarks>
    public async ValueTask<ProblemHttpResult?> AdmitBytesAsync(HttpContext context, long length, CancellationToken cancellation)
    {
        if (_bytes is null || length == 0) return null;
        var client = ClientOf(context);
        var permits = (int)Math.Min(length, _byteBurst);
        return await TryAcquireAsync(_bytes, client, permits, cancellation).ConfigureAwait(false) is { } wait ? Refuse(context, client, wait) : null;
    }

    private ProblemHttpResult Refuse(HttpContext context, string client, TimeSpan wait)
    {
        var endpoint = HttpHost.EndpointOf(context.Request);
        var refused = _rejections.Count(endpoint, RejectionReasons.RateLimited);
        if (_logs[endpoint].Allow()) HttpLimitLog.PublishRateLimited(Logger, client, endpoint, refused);
        var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (Breach == RateLimitBreach.Disconnect) context.Response.Headers.Connection = "close";
        return TypedResults.Problem(
            $"{client} publishes faster than Gateway:Http:Limits allows ({Describe()}); retry after {seconds} s.",
            statusCode: StatusCodes.Status429TooManyRequests, title: "Too many requests");
    }

    /// <summary>Null when acquired; else how long until the client's bucket has the tokens again.</summary>
    private async ValueTask<TimeSpan?> TryAcquireAsync(PartitionedRateLimiter<string> limiter, string client, int permits, CancellationToken cancellation)
    {
        using var lease = Breach == RateLimitBreach.Pause
            ? await limiter.AcquireAsync(client, permits, cancellation).ConfigureAwait(false)
            : limiter.AttemptAcquire(client, permits);
        if (lease.IsAcquired) return null;
        return lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
    }

    private string Describe() =>
        string.Join(", ", new[]
        {
            _options.MessagesPerSecond is { } messages ? $"{messages} messages/s, bursts of {_options.MessageBurst ?? messages}" : null,
            _options.BytesPerSecond is { } bytes ? $"{bytes} bytes/s, bursts of {_byteBurst}" : null,
        }.Where(part => part is not null));

    /// <summary>Who a publish's budget belongs to: its identity when it has one, so one key shares it from every address; else its address.</summary>
    private static string ClientOf(HttpContext context) =>
        HttpCaller.Of(context).Identity is { } identity ? identity : context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    private PartitionedRateLimiter<string> Partitioned(int perSecond, int burst) =>
        PartitionedRateLimiter.Create<string, string>(client => RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            // Pause queues as many as a burst: a client a little too fast waits its turn, a flood is refused.
            QueueLimit = Breach == RateLimitBreach.Pause ? burst : 0,
            QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
        }));

    public void Dispose()
    {
        _messages?.Dispose();
        _bytes?.Dispose();
    }
}

/// <summary>Log lines of the HTTP host's limits. Event ids from <see cref="LogEventIds.Http"/> + 20.</summary>
internal static partial class HttpLimitLog
{
    [LoggerMessage(EventId = LogEventIds.Http + 20, EventName = "PublishRateLimited", Level = LogLevel.Warning,
        Message = "HTTP publish by {Client} on {Endpoint} refused with 429: over Gateway:Http:Limits ({Refused} refused on {Endpoint} so far)")]
    public static partial void PublishRateLimited(ILogger logger, string client, string endpoint, long refused);

    [LoggerMessage(EventId = LogEventIds.Http + 21, EventName = "PeerRefused", Level = LogLevel.Warning,
        Message = "Request from {Remote} on {Endpoint} refused with 429: {Limit} ({Refused} refused on {Endpoint} as {Reason} so far)")]
    public static partial void PeerRefused(ILogger logger, string remote, string endpoint, string limit, string reason, long refused);
}
