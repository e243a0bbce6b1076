using Gateway.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Binds and validates the <c>Gateway</c> section, and makes its security settings ready for every protocol.</summary>
internal static class ConfigurationServiceCollectionExtensions
{
    public static IServiceCollection AddGatewayOptions(this IServiceCollection services, IConfiguration configuration)
    {
        var section = configuration.GetSection(GatewayOptions.SectionName);
        services.AddOptions<GatewayOptions>()
            .Configure(options => ConfigurationBinding.Bind(section, options))
            .ValidateOnStart();
        services.TryAddSingleton<IOptionsChangeTokenSource<GatewayOptions>>(new ConfigurationChangeTokenSource<GatewayOptions>(section));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>());
        services.TryAddSingleton<Gateway.Security.PermissionPolicy>();
        return services;
    }
}
