using Gateway.Configuration;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Backplane;

/// <summary>
/// Readiness of the link: healthy while probes come back through NATS (<see cref="RoundTripProbe"/>), whatever the
/// client believes. A link that is not flowing is Degraded (still ready: the local bus serves this instance's peers),
/// or Unhealthy when <see cref="BackplaneOptions.RequiredForReadiness"/> is set.
/// </summary>
internal sealed class BackplaneHealthCheck(IOptions<GatewayOptions> options, IServiceProvider services, TimeProvider time) : IHealthCheck
{
    public const string Name = "backplane";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var backplane = options.Value.Backplane;
        if (!backplane.IsEnabled)
            return Task.FromResult(HealthCheckResult.Healthy("No backplane: this instance's topic space is its own (Gateway:Backplane:Kind None)."));

        var link = services.GetRequiredService<NatsLink>();
        var probe = link.Probe;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["client"] = link.Connection.ConnectionState.ToString(),
            ["server"] = link.Connection.ServerInfo?.Name ?? "(none)",
            ["lastRoundTripMs"] = probe.LastRoundTrip?.TotalMilliseconds.ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) ?? "(none)",
            ["secondsSinceLastAnswer"] = probe.LastAnsweredAt is { } answered ? ((int)(time.GetUtcNow() - answered).TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) : "(never)",
            ["queued"] = link.Queued,
            ["subscriptions"] = link.Counters.Subscriptions,
        };

        if (probe.IsFlowing)
            return Task.FromResult(HealthCheckResult.Healthy($"Messages flow through NATS (probe round trip {data["lastRoundTripMs"]} ms).", data));

        var description = $"No probe came back through NATS within {backplane.ProbeInterval + backplane.ProbeTimeout} (the client reports {data["client"]}); the local bus still serves this instance's peers.";
        return Task.FromResult(backplane.RequiredForReadiness
            ? HealthCheckResult.Unhealthy(description, data: data)
            : HealthCheckResult.Degraded(description, data: data));
    }
}
