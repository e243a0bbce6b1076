using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Binds and validates the <c>Gateway</c> section; each capability adds the checks of its own part.</summary>
internal static class ConfigurationServiceCollectionExtensions
{
    public static IServiceCollection AddGatewayOptions(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(GatewayOptions.SectionName);
        services.AddOptions<GatewayOptions>()
            .Configure(options => ConfigurationBinding.Bind(section, options))
            .ValidateOnStart();
        services.TryAddSingleton<IOptionsChangeTokenSource<GatewayOptions>>(new ConfigurationChangeTokenSource<GatewayOptions>(section));
        services.AddGatewayOptionsCheck<GatewayOptionsValidator>();
        return services;
    }
}
