using System.Net;
using Gateway.Connections;
using Gateway.Observability;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Http;

/// <summary>
/// Who may open a peer on the HTTP host, a connection, an event stream or a WebSocket (their <c>Limits</c> sections):
/// new peers per second, and peers per client address. One over either gets 429 with <c>Retry-After</c> (a connection,
/// on its requests; a stream or a WebSocket, before it is streamed or upgraded), counted on its endpoint (<c>http</c>,
/// <c>https</c>, <c>ws</c>, <c>wss</c>).
/// </summary>
internal sealed class HttpPeerAdmission : IDisposable
{
    /// <summary>The service key of the event streams' admission.</summary>
    public const string EventStreams = "sse";

    /// <summary>The service key of the WebSockets' admission.</summary>
    public const string WebSockets = "ws";

    /// <summary>The service key of the HTTP host's connections' admission (<see cref="HttpConnectionLimits"/>).</summary>
    public const string Connections = "connections";

    private readonly ConnectionAdmission _admission;
    private readonly RateLimitOptions _options;
    private readonly string _setting;
    private readonly string _peers;
    private readonly Rejections _rejections;
    private readonly ILogger _logger;
    private readonly LogThrottle _log;

    /// <param name="setting">The section's path, for the answer and the log line: "Gateway:Http:Sse:Limits".</param>
    /// <param name="peers">What the peers are called: "event streams".</param>
    public HttpPeerAdmission(RateLimitOptions options, string setting, string peers, Rejections rejections, ILogger logger)
    {
        _options = options;
        _admission = new ConnectionAdmission(options);
        _setting = setting;
        _peers = peers;
        _rejections = rejections;
        _logger = logger;
        _log = new LogThrottle(logger, $"{peers} refused");
    }

    /// <summary>Null when the peer may open (the caller then calls <see cref="Release(HttpContext)"/> when it ends); else the 429 to answer.</summary>
    /// <param name="endpoint">The endpoint the refusal is counted on.</param>
    public ProblemHttpResult? TryAdmit(HttpContext context, string endpoint) =>
        TryAdmit(context.Connection.RemoteIpAddress, endpoint) is { } limit ? Refusal(context, limit) : null;

    /// <summary>
    /// Admits a peer from <paramref name="address"/> (the caller then calls <see cref="Release(IPAddress?)"/> when it
    /// ends); else counts and logs the refusal on <paramref name="endpoint"/> and returns the limit it breaks.
    /// </summary>
    public string? TryAdmit(IPAddress? address, string endpoint)
    {
        if (!_admission.Limits || _admission.TryAdmit(address) is not { } refusal) return null;

        var refused = _rejections.Count(endpoint, refusal);
        var limit = refusal == RejectionReasons.AcceptRate
            ? $"more than {_setting}:ConnectionsPerSecond ({_options.ConnectionsPerSecond}) new {_peers}"
            : $"{address} holds {_setting}:MaxConnectionsPerAddress ({_options.MaxConnectionsPerAddress}) {_peers}";
        if (_log.Allow()) HttpLimitLog.PeerRefused(_logger, address?.ToString() ?? "unknown", endpoint, limit, refusal, refused);
        return limit;
    }

    /// <summary>The answer to a peer refused for <paramref name="limit"/>: 429 with <c>Retry-After</c>.</summary>
    public ProblemHttpResult Refusal(HttpContext context, string limit)
    {
        context.Response.Headers.RetryAfter = "1";
        return TypedResults.Problem($"Refused: {limit}.", statusCode: StatusCodes.Status429TooManyRequests, title: $"Too many {_peers}");
    }

    /// <summary>Whether any limit is set: without one, every peer is admitted and none need be released.</summary>
    public bool Limits => _admission.Limits;

    /// <summary>An admitted peer has ended.</summary>
    public void Release(HttpContext context) => Release(context.Connection.RemoteIpAddress);

    /// <summary>An admitted peer from <paramref name="address"/> has ended.</summary>
    public void Release(IPAddress? address)
    {
        if (_admission.Limits) _admission.Release(address);
    }

    public void Dispose() => _admission.Dispose();
}
