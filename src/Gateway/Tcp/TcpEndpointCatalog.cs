using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Observability;
using Gateway.Security;
using Microsoft.Extensions.Options;

namespace Gateway.Tcp;

/// <summary>The enabled framed endpoints, built once from the validated configuration.</summary>
internal sealed class TcpEndpointCatalog(IOptions<GatewayOptions> options, Rejections rejections, ILoggerFactory loggers) : IEndpointCatalog, IDisposable
{
    public IReadOnlyList<FramedEndpoint> Endpoints { get; } =
        [.. options.Value.Endpoints
            .Where(pair => pair.Value is { Enabled: true, Protocol: EndpointProtocol.Tcp })
            .Select(pair => new FramedEndpoint(pair.Key, pair.Value,
                pair.Value.Tls is { } tls ? new EndpointTls(pair.Key, tls, loggers.CreateLogger("Gateway.Security")) : null)
            {
                FramingErrorLog = new LogThrottle(loggers.CreateLogger("Gateway.Tcp"), $"framing errors on {pair.Key}"),
                FrameTimeouts = rejections.For(pair.Key, RejectionReasons.FrameTimeout),
                RateLimits = EndpointRateLimits.For(pair.Key, $"{GatewayOptions.SectionName}:Endpoints:{pair.Key}:Limits", pair.Value.Limits,
                    RateLimitBreach.Pause, rejections, loggers.CreateLogger("Gateway.Tcp")),
            })];

    IEnumerable<IEndpointDescription> IEndpointCatalog.Endpoints => Endpoints;

    public FramedEndpoint? Find(string name) =>
        Endpoints.FirstOrDefault(endpoint => string.Equals(endpoint.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Stops watching the endpoints' certificate files, and the timers of their accept rates.</summary>
    public void Dispose()
    {
        foreach (var endpoint in Endpoints)
        {
            endpoint.Tls?.Dispose();
            endpoint.Admission.Dispose();
        }
    }
}
