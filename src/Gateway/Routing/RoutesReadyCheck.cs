using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Gateway.Routing;

/// <summary>
/// Readiness of the upstreams of routes marked <see cref="RouteOptions.Required"/>: unhealthy while any of their
/// circuits is open. Other routes' upstreams are reported, never waited for.
/// </summary>
internal sealed class RoutesReadyCheck(RouteCatalog catalog) : IHealthCheck
{
    public const string Name = "routes";

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        var down = new List<string>();
        foreach (var route in catalog.Routes)
        {
            var open = route.Upstream.Circuit.IsOpen;
            data[route.Name] = (open ? "circuit open" : "circuit closed") + (route.Options.Required ? ", required" : "");
            if (open && route.Options.Required) down.Add($"{route.Name} ({route.Upstream.Destination})");
        }

        return Task.FromResult(down.Count == 0
            ? HealthCheckResult.Healthy($"{catalog.Routes.Count} routes; every required upstream takes messages.", data)
            : HealthCheckResult.Unhealthy($"The circuit of a required route is open: {string.Join(", ", down)}.", data: data));
    }
}
