using System.Buffers;
using System.Runtime.ExceptionServices;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Gateway.Observability;

/// <summary>
/// Collects the meters of a MeterProvider when Prometheus scrapes, and renders them with <see cref="PrometheusTextFormat"/>.
/// Add <see cref="Reader"/> to the provider, then answer each scrape with <see cref="Scrape"/>:
/// <code>
/// var prometheus = new PrometheusMetricsExporter();
/// using var meters = Sdk.CreateMeterProviderBuilder().AddMeter("Gateway").AddReader(prometheus.Reader).Build();
/// byte[] body = prometheus.Scrape();   // served as PrometheusMetricsExporter.ContentType
/// </code>
/// The provider owns the reader and, through it, this exporter: disposing the provider ends both.
/// Written here rather than taken from OpenTelemetry.Exporter.Prometheus.AspNetCore (1.20.1-beta.1, the version the
/// registry serves) because that exporter renders a meter's own tags as <c>otel_scope_*</c> labels
/// (<c>otel_scope_gateway_endpoint</c>), while the gateway's per-endpoint meters carry <c>gateway.endpoint</c> and
/// <c>gateway.protocol</c> as meter tags that must be ordinary labels (<c>gateway_endpoint="echo"</c>), as on every
/// other series of that endpoint.
/// </summary>
[ExportModes(ExportModes.Pull)]
internal sealed class PrometheusMetricsExporter : BaseExporter<Metric>, IPullMetricExporter
{
    public const string ContentType = PrometheusTextFormat.ContentType;

    private readonly Lock _scrapeLock = new();
    private readonly ArrayBufferWriter<byte> _text = new(16 * 1024);
    private ExceptionDispatchInfo? _renderFailure;

    public PrometheusMetricsExporter()
    {
        // Prometheus computes rates from running totals, so sums and histograms must never reset between scrapes.
        Reader = new BaseExportingMetricReader(this) { TemporalityPreference = MetricReaderTemporalityPreference.Cumulative };
    }

    /// <summary>The reader to add to the MeterProvider; it collects only when <see cref="Scrape"/> asks.</summary>
    public MetricReader Reader { get; }

    // Set by the reader. A reader of a pull-only exporter refuses every collection (a flush, the provider's shutdown)
    // except those made through this delegate, so Export runs only inside Scrape.
    Func<int, bool>? IPullMetricExporter.Collect { get; set; }

    /// <summary>
    /// Collects every metric now (observable instruments run their callbacks on this thread) and returns the text as
    /// UTF-8, to serve with <see cref="ContentType"/>. Concurrent scrapes take turns.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The MeterProvider has been disposed.</exception>
    /// <exception cref="InvalidOperationException">The collection failed.</exception>
    public byte[] Scrape()
    {
        lock (_scrapeLock)
        {
            // The reader folds concurrent collections into one export; taking turns here gives each scrape its own,
            // and keeps one scrape's text out of another's buffer.
            var collect = ((IPullMetricExporter)this).Collect ?? throw new ObjectDisposedException(nameof(PrometheusMetricsExporter));
            _text.ResetWrittenCount();
            _renderFailure = null;
            if (!collect(Timeout.Infinite))
            {
                _renderFailure?.Throw();
                throw new InvalidOperationException("Collecting the metrics failed; the OpenTelemetry SDK's event source has the cause.");
            }

            return _text.WrittenSpan.ToArray();
        }
    }

    public override ExportResult Export(in Batch<Metric> batch)
    {
        try
        {
            PrometheusTextFormat.Write(batch, _text);
            return ExportResult.Success;
        }
        catch (Exception exception)
        {
            // The reader would swallow this into an event source; Scrape rethrows it where the endpoint can log it.
            _renderFailure = ExceptionDispatchInfo.Capture(exception);
            return ExportResult.Failure;
        }
    }
}
