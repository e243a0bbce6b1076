using Gateway.Configuration;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Observability;

/// <summary>
/// The OpenTelemetry providers, registered with OpenTelemetry.Extensions.Hosting: its hosted service, which runs before
/// every other, builds them when the host starts, and the container disposes them after the host has stopped, which
/// pushes what OTLP has not yet sent. Metrics always feed <c>/metrics</c>; with <c>Gateway:Telemetry:OtlpEndpoint</c>
/// set they are also pushed, and spans are made and pushed.
/// </summary>
internal static class GatewayTelemetry
{
    /// <summary>
    /// The built-in meters reported beside the gateway's own. Not System.Net.Http's: recording its histograms for every
    /// request of a route cost about a quarter of the route's throughput (bench/README.md, routes); a route's own
    /// in-flight and queued counts say what the Node agent's <c>sockets</c> and <c>requests</c> say.
    /// </summary>
    private static readonly string[] s_meters =
        [GatewayMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime"];

    // One set of OTLP options per signal: over HTTP each signal has its own path, so they cannot share an instance.
    private const string OtlpMetrics = "Gateway.Metrics";
    private const string OtlpTraces = "Gateway.Traces";

    private const string OtlpEndpointKey =
        $"{GatewayOptions.SectionName}:{nameof(GatewayOptions.Telemetry)}:{nameof(TelemetryOptions.OtlpEndpoint)}";

    public static void AddOpenTelemetry(IServiceCollection services, IConfiguration configuration, IHostEnvironment environment)
    {
        // OpenTelemetry adds an exporter only while the services are registered, so whether to push is decided here; the
        // address, protocol and interval come from the validated options when the providers are built.
        var pushed = !string.IsNullOrEmpty(configuration[OtlpEndpointKey]);

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource => resource.AddService(environment.ApplicationName, serviceInstanceId: Environment.MachineName))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(s_meters)
                    // Made with the provider, so the gateway's instruments are there from the first scrape on.
                    .AddInstrumentation<GatewayMetrics>()
                    .AddReader(provider => provider.GetRequiredService<PrometheusMetricsExporter>().Reader);
                if (pushed) metrics.AddOtlpExporter(OtlpMetrics, configure: null);
            });
        if (!pushed) return;

        // ASP.NET Core's request spans, which a publish's span continues, with the instrumentation's HTTP attributes.
        telemetry.WithTracing(tracing => tracing
            .AddSource(MessageTracing.SourceName)
            .AddAspNetCoreInstrumentation()
            .AddOtlpExporter(OtlpTraces, configure: null));

        services.AddOptions<OtlpExporterOptions>(OtlpMetrics)
            .Configure<IOptions<GatewayOptions>>((exporter, options) => Configure(exporter, options.Value.Telemetry, "v1/metrics"));
        services.AddOptions<OtlpExporterOptions>(OtlpTraces)
            .Configure<IOptions<GatewayOptions>>((exporter, options) => Configure(exporter, options.Value.Telemetry, "v1/traces"));
        services.AddOptions<MetricReaderOptions>(OtlpMetrics).Configure<IOptions<GatewayOptions>>((reader, options) =>
            reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)options.Value.Telemetry.OtlpExportInterval.TotalMilliseconds);
    }

    private static void Configure(OtlpExporterOptions exporter, TelemetryOptions telemetry, string signalPath)
    {
        var endpoint = telemetry.OtlpEndpoint
            ?? throw new InvalidOperationException($"{OtlpEndpointKey} is set but binds to no address.");
        if (telemetry.OtlpProtocol == OtlpProtocol.HttpProtobuf)
        {
            // Over HTTP each signal has its own path under the collector's address; gRPC takes the address as it is.
            exporter.Protocol = OtlpExportProtocol.HttpProtobuf;
            exporter.Endpoint = new Uri(endpoint.AbsoluteUri.TrimEnd('/') + "/" + signalPath);
        }
        else
        {
            exporter.Protocol = OtlpExportProtocol.Grpc;
            exporter.Endpoint = endpoint;
        }
    }
}
