using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Udp;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the UDP endpoints: their catalog and the service that runs their sockets.</summary>
internal static class UdpServiceCollectionExtensions
{
    public static IServiceCollection AddUdpEndpoints(this IServiceCollection services)
    {
        services.AddGatewayOptionsCheck<UdpEndpointsValidator>();
        services.TryAddSingleton<UdpEndpointCatalog>();
        services.AddSingleton<IEndpointCatalog>(static provider => provider.GetRequiredService<UdpEndpointCatalog>());
        services.AddHostedService<UdpEndpointService>();
        return services;
    }
}
