using Gateway.Observability;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Metrics and traces: the <c>Gateway</c> meter, the OpenTelemetry providers, and <c>/metrics</c> for Prometheus.</summary>
internal static class TelemetryEndpoints
{
    /// <summary>Call before the listeners are added, so the providers start before any traffic and stop after it.</summary>
    public static IServiceCollection AddGatewayTelemetry(this IServiceCollection services)
    {
        // An instance, not a type: the meter provider that reads through it disposes it, not the container.
        services.AddSingleton(new PrometheusMetricsExporter());
        services.AddSingleton<GatewayMetrics>();
        services.AddSingleton<GatewayTelemetry>();
        services.AddHostedService(provider => provider.GetRequiredService<GatewayTelemetry>());
        return services;
    }

    /// <summary>
    /// <c>GET /metrics</c>: every meter's current values in the Prometheus text format. Open like the health endpoints:
    /// scrapers rarely carry credentials, and the figures name endpoints, never peers or payloads.
    /// </summary>
    public static WebApplication MapGatewayMetrics(this WebApplication app)
    {
        app.MapGet("/metrics", IResult (PrometheusMetricsExporter prometheus) =>
            {
                try
                {
                    return Results.Bytes(prometheus.Scrape(), PrometheusMetricsExporter.ContentType);
                }
                catch (ObjectDisposedException)
                {
                    return Results.Problem("The metrics are no longer collected: the gateway is stopping.", statusCode: StatusCodes.Status503ServiceUnavailable);
                }
            })
            .ExcludeFromDescription();
        return app;
    }
}
