using Gateway.Configuration;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Gateway.Observability;

/// <summary>
/// The OpenTelemetry providers, built by hand (the hosting package is not available) when the host starts and disposed
/// when it stops, which also pushes what OTLP has not yet sent. Metrics always feed <c>/metrics</c>; with
/// <c>Gateway:Telemetry:OtlpEndpoint</c> set they are also pushed, and spans are made and pushed.
/// </summary>
/// <remarks>Registered before the listeners, so it starts before any traffic and stops after the last of it.</remarks>
internal sealed class GatewayTelemetry : IHostedService, IDisposable
{
    /// <summary>The built-in meters reported beside the gateway's own.</summary>
    private static readonly string[] s_meters =
        [GatewayMetrics.MeterName, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Runtime"];

    private readonly MeterProvider _meterProvider;
    private readonly TracerProvider? _tracerProvider;

    public GatewayTelemetry(IOptions<GatewayOptions> options, GatewayMetrics metrics, PrometheusMetricsExporter prometheus, IHostEnvironment environment)
    {
        _ = metrics; // constructed here, so its instruments exist before the first measurement
        var telemetry = options.Value.Telemetry;
        var resource = ResourceBuilder.CreateDefault().AddService(environment.ApplicationName, serviceInstanceId: Environment.MachineName);

        var meterBuilder = Sdk.CreateMeterProviderBuilder().SetResourceBuilder(resource).AddMeter(s_meters).AddReader(prometheus.Reader);
        if (telemetry.OtlpEndpoint is { } endpoint)
        {
            meterBuilder.AddOtlpExporter((exporter, reader) =>
            {
                Configure(exporter, endpoint, telemetry.OtlpProtocol, "v1/metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)telemetry.OtlpExportInterval.TotalMilliseconds;
            });

            // ASP.NET Core's own source makes the request spans that a publish's span continues.
            _tracerProvider = Sdk.CreateTracerProviderBuilder().SetResourceBuilder(resource)
                .AddSource(MessageTracing.SourceName, "Microsoft.AspNetCore")
                .AddOtlpExporter(exporter => Configure(exporter, endpoint, telemetry.OtlpProtocol, "v1/traces"))
                .Build();
        }

        _meterProvider = meterBuilder.Build();
    }

    private static void Configure(OtlpExporterOptions exporter, Uri endpoint, OtlpProtocol protocol, string signalPath)
    {
        if (protocol == OtlpProtocol.HttpProtobuf)
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

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Disposing a provider flushes it: the last interval's metrics and the open spans reach the collector.</summary>
    public void Dispose()
    {
        _tracerProvider?.Dispose();
        _meterProvider.Dispose();
    }
}
