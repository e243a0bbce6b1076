using Gateway.Configuration;
using Gateway.Observability;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Metrics and traces: the <c>Gateway</c> meter, the OpenTelemetry providers, and <c>/metrics</c> for Prometheus.</summary>
internal static class TelemetryEndpoints
{
    /// <summary>
    /// The providers start before any other hosted service, so before any traffic, and are disposed with the container,
    /// after the last of it. <paramref name="configuration"/> tells whether OTLP is configured.
    /// </summary>
    public static IServiceCollection AddGatewayTelemetry(this IServiceCollection services, IConfiguration configuration, IHostEnvironment environment)
    {
        // An instance, not a type: the meter provider that reads through it disposes it, not the container.
        services.AddGatewayOptionsCheck<TelemetryOptionsValidator>();
        services.AddSingleton(new PrometheusMetricsExporter());
        GatewayTelemetry.AddOpenTelemetry(services, configuration, environment);
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
