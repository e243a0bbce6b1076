using System.Diagnostics.Metrics;
using Gateway.Backplane;
using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Observability;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the NATS backplane: with <c>Gateway:Backplane:Kind</c> Nats, the bus every endpoint uses is the local bus joined to NATS.</summary>
internal static class BackplaneServiceCollectionExtensions
{
    public static IServiceCollection AddBackplane(this IServiceCollection services)
    {
        services.AddGatewayOptionsCheck<BackplaneOptionsValidator>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(provider =>
        {
            var link = ActivatorUtilities.CreateInstance<NatsLink>(provider);
            BackplaneMetrics.Register(provider.GetRequiredService<IMeterFactory>(), link);
            return link;
        });
        services.Replace(ServiceDescriptor.Singleton<IMessageBus>(provider =>
            provider.GetRequiredService<IOptions<GatewayOptions>>().Value.Backplane.IsEnabled
                ? new BackplaneBus(provider.GetRequiredService<InProcessMessageBus>(), provider.GetRequiredService<NatsLink>())
                : provider.GetRequiredService<InProcessMessageBus>()));
        services.AddHostedService<BackplaneService>();
        services.AddHealthChecks().AddCheck<BackplaneHealthCheck>(BackplaneHealthCheck.Name, tags: [HealthEndpoints.ReadyTag]);
        return services;
    }

    /// <summary>Starts the link with the host and stops it after the endpoints, so what they publish while draining still goes out.</summary>
    private sealed class BackplaneService(IOptions<GatewayOptions> options, IServiceProvider services) : IHostedService
    {
        private NatsLink? _link;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (!options.Value.Backplane.IsEnabled) return Task.CompletedTask;
            _link = services.GetRequiredService<NatsLink>();
            _link.Start();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => _link?.StopAsync(cancellationToken) ?? Task.CompletedTask;
    }
}
