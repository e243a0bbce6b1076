using Gateway.Configuration;
using Gateway.Security;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <c>Gateway:Security</c>, made ready for every protocol: each identity's permissions and the API keys.</summary>
internal static class SecurityServiceCollectionExtensions
{
    public static IServiceCollection AddGatewaySecurity(this IServiceCollection services)
    {
        services.AddGatewayOptionsCheck<SecurityOptionsValidator>();
        services.TryAddSingleton<PermissionPolicy>();
        return services;
    }
}
