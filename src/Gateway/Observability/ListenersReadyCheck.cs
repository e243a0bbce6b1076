using Gateway.Connections;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Observability;

/// <summary>
/// Readiness of the gateway's listeners: the host has started, every configured listener (the HTTP host, HTTPS,
/// each TCP, Unix socket and UDP endpoint) is bound, and the gateway is not shutting down. The data lists where each
/// listens, so a failing probe says which one is missing.
/// </summary>
internal sealed class ListenersReadyCheck(EndpointDirectory directory, IHostApplicationLifetime lifetime) : IHealthCheck
{
    public const string Name = "listeners";

    private const string Unbound = "not bound";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested)
            return Task.FromResult(HealthCheckResult.Unhealthy("Shutting down: draining connections, accepting no new ones."));
        if (!lifetime.ApplicationStarted.IsCancellationRequested)
            return Task.FromResult(HealthCheckResult.Unhealthy("Starting: the listeners are not bound yet."));

        var listeners = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var endpoint in directory.Endpoints)
            listeners[endpoint.Name] = Describe(endpoint.BoundEndPoint);

        var unbound = listeners.Where(pair => pair.Value is Unbound).Select(pair => pair.Key).ToList();
        return Task.FromResult(unbound.Count == 0
            ? HealthCheckResult.Healthy($"{listeners.Count} listeners bound.", listeners)
            : HealthCheckResult.Unhealthy($"Not bound: {string.Join(", ", unbound)}.", data: listeners));
    }

    private static object Describe(System.Net.EndPoint? endPoint) => endPoint?.ToString() ?? Unbound;
}
