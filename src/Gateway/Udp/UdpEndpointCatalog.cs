using Gateway.Configuration;
using Gateway.Connections;

namespace Gateway.Udp;

/// <summary>The enabled UDP endpoints, built once from the validated configuration.</summary>
internal sealed class UdpEndpointCatalog(IOptions<GatewayOptions> options, Rejections rejections, ILoggerFactory loggers) : IEndpointCatalog, IDisposable
{
    public IReadOnlyList<UdpEndpoint> Endpoints { get; } =
        [.. options.Value.Endpoints
            .Where(pair => pair.Value is { Enabled: true, Protocol: EndpointProtocol.Udp })
            .Select(pair => new UdpEndpoint(pair.Key, pair.Value, options.Value.DefaultAddress)
            {
                // A datagram peer cannot be paused: over its budget, a datagram is dropped unless the section says otherwise.
                RateLimits = EndpointRateLimits.For(pair.Key, $"{GatewayOptions.SectionName}:Endpoints:{pair.Key}:Limits", pair.Value.Limits,
                    RateLimitBreach.Drop, rejections, loggers.CreateLogger("Gateway.Udp")),
            })];

    IEnumerable<IEndpointDescription> IEndpointCatalog.Endpoints => Endpoints;

    public UdpEndpoint? Find(string name) =>
        Endpoints.FirstOrDefault(endpoint => string.Equals(endpoint.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>Stops the timers of the endpoints' rates of new peers.</summary>
    public void Dispose()
    {
        foreach (var endpoint in Endpoints)
            endpoint.Admission.Dispose();
    }
}
