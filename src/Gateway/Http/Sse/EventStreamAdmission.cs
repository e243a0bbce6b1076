using System.Net;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Observability;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Gateway.Http.Sse;

/// <summary>
/// Who may open an event stream (<c>Gateway:Http:Sse:Limits</c>): new streams per second, and streams per client address.
/// A stream over either gets 429 with <c>Retry-After</c>, counted on its endpoint (<c>http</c> or <c>https</c>).
/// </summary>
internal sealed class EventStreamAdmission : IDisposable
{
    private readonly ConnectionAdmission _admission;
    private readonly RateLimitOptions _options;
    private readonly Rejections _rejections;
    private readonly ILogger _logger;
    private readonly LogThrottle _log;

    public EventStreamAdmission(IOptions<GatewayOptions> gateway, Rejections rejections, ILoggerFactory loggers)
    {
        _options = gateway.Value.Http.Sse.Limits;
        _admission = new ConnectionAdmission(_options);
        _rejections = rejections;
        _logger = loggers.CreateLogger("Gateway.Http.Sse");
        _log = new LogThrottle(_logger, "event streams refused");
    }

    /// <summary>Null when the stream may open (the caller then calls <see cref="Release"/> when it ends); else the 429 to answer.</summary>
    public ProblemHttpResult? TryAdmit(HttpContext context)
    {
        if (!_admission.Limits) return null;
        var address = AddressOf(context);
        if (_admission.TryAdmit(address) is not { } refusal) return null;

        var endpoint = HttpHost.EndpointOf(context.Request);
        var refused = _rejections.Count(endpoint, refusal);
        var limit = refusal == RejectionReasons.AcceptRate
            ? $"more than Gateway:Http:Sse:Limits:ConnectionsPerSecond ({_options.ConnectionsPerSecond}) new streams"
            : $"{address} holds Gateway:Http:Sse:Limits:MaxConnectionsPerAddress ({_options.MaxConnectionsPerAddress}) streams";
        if (_log.Allow()) SseLog.StreamRefused(_logger, address?.ToString() ?? "unknown", endpoint, limit, refusal, refused);
        context.Response.Headers.RetryAfter = "1";
        return TypedResults.Problem($"Event stream refused: {limit}.", statusCode: StatusCodes.Status429TooManyRequests, title: "Too many event streams");
    }

    /// <summary>An admitted stream has ended.</summary>
    public void Release(HttpContext context)
    {
        if (_admission.Limits) _admission.Release(AddressOf(context));
    }

    public void Dispose() => _admission.Dispose();

    private static IPAddress? AddressOf(HttpContext context) =>
        context.Connection.RemoteIpAddress is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : context.Connection.RemoteIpAddress;
}
