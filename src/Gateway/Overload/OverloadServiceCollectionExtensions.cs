using Gateway.Configuration;
using Gateway.Overload;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Registers the overload protection (<c>Gateway:Overload</c>): the working-set monitor, the refusals every listener
/// reports to, and the readiness check. The framed listeners add <see cref="OverloadListenerGuard"/>, the HTTP host
/// <see cref="OverloadHttpGate"/>.
/// </summary>
internal static class OverloadServiceCollectionExtensions
{
    public static IServiceCollection AddOverloadProtection(this IServiceCollection services)
    {
        services.AddGatewayOptionsCheck<OverloadOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<OverloadMonitor>();
        services.AddHostedService(static provider => provider.GetRequiredService<OverloadMonitor>());
        services.TryAddSingleton<OverloadRefusals>();
        services.AddHealthChecks().AddCheck<OverloadReadyCheck>(OverloadReadyCheck.Name, tags: [HealthEndpoints.ReadyTag]);
        return services;
    }
}
