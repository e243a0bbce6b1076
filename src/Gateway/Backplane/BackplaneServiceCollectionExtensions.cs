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
        services.AddSingleton<JetStreamHistory>();
        services.AddSingleton<ISharedHistory>(provider => provider.GetRequiredService<JetStreamHistory>());
        services.AddHostedService<BackplaneService>();
        services.AddHealthChecks().AddCheck<BackplaneHealthCheck>(BackplaneHealthCheck.Name, tags: [HealthEndpoints.ReadyTag]);
        return services;
    }

    /// <summary>Starts the link with the host and stops it after the endpoints, so what they publish while draining still goes out.</summary>
    private sealed class BackplaneService(IOptions<GatewayOptions> options, IServiceProvider services, JetStreamHistory history) : IHostedService
    {
        private readonly CancellationTokenSource _stopping = new();
        private NatsLink? _link;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (!options.Value.Backplane.IsEnabled) return Task.CompletedTask;
            _link = services.GetRequiredService<NatsLink>();
            _link.Start();
            if (history.Enabled) _ = EnsureHistoryAsync(_stopping.Token);
            return Task.CompletedTask;
        }

        /// <summary>Makes the history stream as soon as NATS answers, so it records from the start, not from the first event stream.</summary>
        private async Task EnsureHistoryAsync(CancellationToken stopping)
        {
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    await history.EnsureStreamAsync(stopping);
                    return;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // NATS not there yet, or JetStream not enabled on it: each event stream tries again and says why.
                    await Task.Delay(TimeSpan.FromSeconds(1), stopping).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
            }
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await _stopping.CancelAsync();
            if (_link is not null) await _link.StopAsync(cancellationToken);
        }
    }
}
