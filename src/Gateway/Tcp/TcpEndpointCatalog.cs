using Gateway.Configuration;
using Microsoft.Extensions.Options;

namespace Gateway.Tcp;

/// <summary>The enabled framed endpoints, built once from the validated configuration.</summary>
internal sealed class TcpEndpointCatalog(IOptions<GatewayOptions> options)
{
    public IReadOnlyList<FramedEndpoint> Endpoints { get; } =
        [.. options.Value.Endpoints
            .Where(pair => pair.Value is { Enabled: true, Protocol: EndpointProtocol.Tcp })
            .Select(pair => new FramedEndpoint(pair.Key, pair.Value))];

    public FramedEndpoint? Find(string name) =>
        Endpoints.FirstOrDefault(endpoint => string.Equals(endpoint.Name, name, StringComparison.OrdinalIgnoreCase));
}
