using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Overload;

/// <summary>
/// <c>/readyz</c> fails while the process is overloaded, so a load balancer sends new peers to another instance (the
/// gateway refuses them anyway); the data gives the working set and both thresholds.
/// </summary>
internal sealed class OverloadReadyCheck(OverloadMonitor monitor) : IHealthCheck
{
    public const string Name = "overload";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!monitor.Enabled)
            return Task.FromResult(HealthCheckResult.Healthy("Overload protection is off (Gateway:Overload:Enabled)."));

        var thresholds = monitor.Thresholds;
        var workingSet = monitor.WorkingSetBytes;
        var data = new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["workingSetBytes"] = workingSet,
            ["highThresholdBytes"] = thresholds.HighBytes,
            ["lowThresholdBytes"] = thresholds.LowBytes,
        };
        return Task.FromResult(monitor.IsOverloaded
            ? HealthCheckResult.Unhealthy(
                $"Overloaded: the working set ({workingSet:N0} bytes) passed the high threshold ({thresholds.HighBytes:N0} bytes); "
                + $"new connections are refused until it falls below {thresholds.LowBytes:N0} bytes.", data: data)
            : HealthCheckResult.Healthy($"Working set {workingSet:N0} bytes, below the high threshold ({thresholds.HighBytes:N0} bytes).", data));
    }
}
