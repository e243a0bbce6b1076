using Gateway.Configuration;
using Gateway.Connections;

namespace Gateway.Udp;

/// <summary>The enabled UDP endpoints, built once from the validated configuration.</summary>
internal sealed class UdpEndpointCatalog(IOptions<GatewayOptions> options) : IEndpointCatalog
{
    public IReadOnlyList<UdpEndpoint> Endpoints { get; } =
        [.. options.Value.Endpoints
            .Where(pair => pair.Value is { Enabled: true, Protocol: EndpointProtocol.Udp })
            .Select(pair => new UdpEndpoint(pair.Key, pair.Value, options.Value.DefaultAddress))];

    IEnumerable<IEndpointDescription> IEndpointCatalog.Endpoints => Endpoints;

    public UdpEndpoint? Find(string name) =>
        Endpoints.FirstOrDefault(endpoint => string.Equals(endpoint.Name, name, StringComparison.OrdinalIgnoreCase));
}
