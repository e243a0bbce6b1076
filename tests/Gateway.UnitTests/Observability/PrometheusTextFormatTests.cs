using System.Diagnostics.Metrics;
using System.Text;
using Gateway.Observability;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Gateway.UnitTests.Observability;

/// <summary>
/// Scrapes of a real MeterProvider through <see cref="PrometheusMetricsExporter"/>, checked line by line against the
/// Prometheus text format 0.0.4. Each test has a meter of its own: MeterListeners are process-wide and tests run in parallel.
/// </summary>
public sealed class PrometheusTextFormatTests
{
    [Fact]
    public void Counter_gets_the_unit_and_total_suffixes_and_its_tags_as_labels()
    {
        using var scope = new MetricsScope();
        var counter = scope.Meter.CreateCounter<long>("gateway.received", unit: "By", description: "Bytes received from clients.");
        counter.Add(40, new KeyValuePair<string, object?>("endpoint", "echo"));
        counter.Add(2, new KeyValuePair<string, object?>("endpoint", "echo"));

        Assert.Equal(
            $$"""
            # HELP gateway_received_bytes_total Bytes received from clients.
            # TYPE gateway_received_bytes_total counter
            gateway_received_bytes_total{{scope.Label}},endpoint="echo"} 42

            """,
            scope.Scrape());
    }

    [Fact]
    public void Meters_of_one_name_with_their_own_tags_make_one_family_with_those_tags_as_labels()
    {
        using var scope = new MetricsScope();
        using var echo = new Meter(new MeterOptions(scope.Meter.Name) { Tags = [new("gateway.endpoint", "echo")] });
        using var chat = new Meter(new MeterOptions(scope.Meter.Name) { Tags = [new("gateway.endpoint", "ch\"at")] });
        echo.CreateCounter<long>("gateway.sent", "{message}").Add(3);
        chat.CreateCounter<long>("gateway.sent", "{message}").Add(4, new KeyValuePair<string, object?>("reason", "x"));

        Assert.Equal(
            $$"""
            # TYPE gateway_sent_total counter
            gateway_sent_total{{scope.Label}},gateway_endpoint="echo"} 3
            gateway_sent_total{{scope.Label}},gateway_endpoint="ch\"at",reason="x"} 4

            """,
            scope.Scrape());
    }

    [Theory]
    [InlineData("gateway.sent.bytes", "By", "gateway_sent_bytes_total")]
    [InlineData("gateway.frames.total", "", "gateway_frames_total")]
    [InlineData("gateway.frames", "{frame}", "gateway_frames_total")]
    [InlineData("gateway.transfer", "By/s", "gateway_transfer_bytes_per_second_total")]
    [InlineData("gateway.requests", "{request}/s", "gateway_requests_per_second_total")]
    [InlineData("gateway.latency", "ms", "gateway_latency_milliseconds_total")]
    [InlineData("gateway.work", "us", "gateway_work_microseconds_total")]
    [InlineData("gateway.hits", "1", "gateway_hits_total")]
    [InlineData("gateway.distance", "km", "gateway_distance_km_total")]
    public void Counter_names_carry_the_unit_and_total_once(string name, string unit, string expected)
    {
        using var scope = new MetricsScope();
        scope.Meter.CreateCounter<long>(name, unit).Add(1);

        Assert.Equal(
            $$"""
            # TYPE {{expected}} counter
            {{expected}}{{scope.Label}}} 1

            """,
            scope.Scrape());
    }

    [Fact]
    public void Up_down_counter_is_a_gauge_and_a_unit_in_braces_adds_nothing()
    {
        using var scope = new MetricsScope();
        var connections = scope.Meter.CreateUpDownCounter<long>("gateway.connections.active", unit: "{connection}", description: "Open connections.");
        connections.Add(3);
        connections.Add(-1);

        Assert.Equal(
            $$"""
            # HELP gateway_connections_active Open connections.
            # TYPE gateway_connections_active gauge
            gateway_connections_active{{scope.Label}}} 2

            """,
            scope.Scrape());
    }

    [Fact]
    public void Observable_gauge_of_doubles_renders_round_trip_values_and_special_values()
    {
        using var scope = new MetricsScope();
        scope.Meter.CreateObservableGauge(
            "gateway.outbox.fill",
            () => new[]
            {
                new Measurement<double>(0.1, new KeyValuePair<string, object?>("q", "a")),
                new Measurement<double>(1e21, new KeyValuePair<string, object?>("q", "b")),
                new Measurement<double>(double.PositiveInfinity, new KeyValuePair<string, object?>("q", "c")),
                new Measurement<double>(double.NegativeInfinity, new KeyValuePair<string, object?>("q", "d")),
                new Measurement<double>(double.NaN, new KeyValuePair<string, object?>("q", "e")),
                new Measurement<double>(1.0 / 3, new KeyValuePair<string, object?>("q", "f")),
            },
            unit: "1",
            description: "How full the outboxes are.");

        Assert.Equal(
            $$"""
            # HELP gateway_outbox_fill_ratio How full the outboxes are.
            # TYPE gateway_outbox_fill_ratio gauge
            gateway_outbox_fill_ratio{{scope.Label}},q="a"} 0.1
            gateway_outbox_fill_ratio{{scope.Label}},q="b"} 1E+21
            gateway_outbox_fill_ratio{{scope.Label}},q="c"} +Inf
            gateway_outbox_fill_ratio{{scope.Label}},q="d"} -Inf
            gateway_outbox_fill_ratio{{scope.Label}},q="e"} NaN
            gateway_outbox_fill_ratio{{scope.Label}},q="f"} 0.3333333333333333

            """,
            scope.Scrape());
    }

    [Fact]
    public void Histogram_buckets_are_cumulative_and_end_with_inf_then_sum_and_count()
    {
        using var scope = new MetricsScope();
        var duration = scope.Meter.CreateHistogram<double>(
            "gateway.publish.duration",
            unit: "s",
            description: "Time to publish.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.01, 0.1] });

        // Powers of two keep the sum exact: one value per bucket up to 0.1, two in (0.001, 0.01], one above 0.1.
        var tag = new KeyValuePair<string, object?>("endpoint", "echo");
        foreach (var seconds in new[] { 0.0009765625, 0.0078125, 0.0078125, 0.0625, 2 })
            duration.Record(seconds, tag);

        Assert.Equal(
            $$"""
            # HELP gateway_publish_duration_seconds Time to publish.
            # TYPE gateway_publish_duration_seconds histogram
            gateway_publish_duration_seconds_bucket{{scope.Label}},endpoint="echo",le="0.001"} 1
            gateway_publish_duration_seconds_bucket{{scope.Label}},endpoint="echo",le="0.01"} 3
            gateway_publish_duration_seconds_bucket{{scope.Label}},endpoint="echo",le="0.1"} 4
            gateway_publish_duration_seconds_bucket{{scope.Label}},endpoint="echo",le="+Inf"} 5
            gateway_publish_duration_seconds_sum{{scope.Label}},endpoint="echo"} 2.0791015625
            gateway_publish_duration_seconds_count{{scope.Label}},endpoint="echo"} 5

            """,
            scope.Scrape());
    }

    [Fact]
    public void Histogram_without_bounds_still_has_the_inf_bucket()
    {
        using var scope = new MetricsScope(builder => builder.AddView("gateway.size", new ExplicitBucketHistogramConfiguration { Boundaries = [] }));
        var size = scope.Meter.CreateHistogram<long>("gateway.size", unit: "By");
        size.Record(100);
        size.Record(28);

        Assert.Equal(
            $$"""
            # TYPE gateway_size_bytes histogram
            gateway_size_bytes_bucket{{scope.Label}},le="+Inf"} 2
            gateway_size_bytes_sum{{scope.Label}}} 128
            gateway_size_bytes_count{{scope.Label}}} 2

            """,
            scope.Scrape());
    }

    [Fact]
    public void Exponential_histogram_is_left_out()
    {
        using var scope = new MetricsScope(builder => builder.AddView("gateway.exponential", new Base2ExponentialBucketHistogramConfiguration()));
        scope.Meter.CreateHistogram<double>("gateway.exponential").Record(1);
        scope.Meter.CreateCounter<long>("gateway.after").Add(1);

        Assert.Equal(
            $$"""
            # TYPE gateway_after_total counter
            gateway_after_total{{scope.Label}}} 1

            """,
            scope.Scrape());
    }

    [Fact]
    public void Label_values_escape_backslash_quote_and_newline()
    {
        using var scope = new MetricsScope();
        scope.Meter.CreateCounter<long>("gateway.odd").Add(1, new KeyValuePair<string, object?>("path", "C:\\dir \"x\"\nnext"));

        Assert.Equal(
            $$"""
            # TYPE gateway_odd_total counter
            gateway_odd_total{{scope.Label}},path="C:\\dir \"x\"\nnext"} 1

            """,
            scope.Scrape());
    }

    [Fact]
    public void Help_escapes_backslash_and_newline_but_not_quotes()
    {
        using var scope = new MetricsScope();
        scope.Meter.CreateCounter<long>("gateway.described", description: "First line\nsecond \\ \"quoted\"").Add(1);

        var lines = scope.Scrape().Split('\n');

        Assert.Equal("# HELP gateway_described_total First line\\nsecond \\\\ \"quoted\"", lines[0]);
    }

    [Fact]
    public void Names_and_tag_keys_are_sanitized()
    {
        using var scope = new MetricsScope();
        scope.Meter.CreateCounter<long>("gateway.tcp-frames/in..x").Add(
            5,
            new KeyValuePair<string, object?>("client-id", "c1"),
            new KeyValuePair<string, object?>("1st.key", "k"),
            new KeyValuePair<string, object?>("__private", "p"),
            new KeyValuePair<string, object?>("caf\u00e9", "\u00e9t\u00e9"));

        var sample = scope.Scrape().Split('\n')[1];

        Assert.Equal($"gateway_tcp_frames_in_x_total{scope.Label},_1st_key=\"k\",_private=\"p\",caf_=\"\u00e9t\u00e9\",client_id=\"c1\"}} 5", sample);
    }

    [Fact]
    public void Tag_values_render_invariant()
    {
        using var scope = new MetricsScope();
        scope.Meter.CreateCounter<long>("gateway.typed").Add(
            1,
            new KeyValuePair<string, object?>("a_bool", true),
            new KeyValuePair<string, object?>("b_int", -7),
            new KeyValuePair<string, object?>("c_double", 2.5),
            new KeyValuePair<string, object?>("d_strings", new[] { "x", "y" }),
            new KeyValuePair<string, object?>("e_longs", new long[] { 1, 2 }),
            new KeyValuePair<string, object?>("f_float", 0.1f),
            new KeyValuePair<string, object?>("g_null", null));

        var sample = scope.Scrape().Split('\n')[1];

        Assert.Equal(
            $"gateway_typed_total{scope.Label},a_bool=\"true\",b_int=\"-7\",c_double=\"2.5\",d_strings=\"x,y\",e_longs=\"1,2\",f_float=\"0.1\",g_null=\"\"}} 1",
            sample);
    }

    [Fact]
    public void Tag_keys_that_sanitize_alike_become_one_label_with_both_values()
    {
        using var scope = new MetricsScope();
        scope.Meter.CreateCounter<long>("gateway.clash").Add(
            1,
            new KeyValuePair<string, object?>("a_b", "second"),
            new KeyValuePair<string, object?>("a.b", "first"),
            new KeyValuePair<string, object?>("otel.scope.name", "spoofed"));

        var sample = scope.Scrape().Split('\n')[1];

        Assert.Equal($"gateway_clash_total{scope.Label},a_b=\"first;second\"}} 1", sample);
    }

    [Fact]
    public void A_tag_named_le_is_left_off_every_line_of_a_histogram()
    {
        using var scope = new MetricsScope();
        scope.Meter.CreateHistogram<long>("gateway.sizes", unit: "By", description: null, tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [10] })
            .Record(5, new KeyValuePair<string, object?>("le", "tag"), new KeyValuePair<string, object?>("kind", "k"));

        Assert.Equal(
            $$"""
            # TYPE gateway_sizes_bytes histogram
            gateway_sizes_bytes_bucket{{scope.Label}},kind="k",le="10"} 1
            gateway_sizes_bytes_bucket{{scope.Label}},kind="k",le="+Inf"} 1
            gateway_sizes_bytes_sum{{scope.Label}},kind="k"} 5
            gateway_sizes_bytes_count{{scope.Label}},kind="k"} 1

            """,
            scope.Scrape());
    }

    [Fact]
    public void One_family_from_two_meters_has_one_header_and_keeps_its_first_type()
    {
        using var other = new Meter($"test.{Guid.NewGuid():N}");
        using var scope = new MetricsScope(builder => builder.AddMeter(other.Name));

        scope.Meter.CreateCounter<long>("gateway.shared", description: "Shared.").Add(1);
        scope.Meter.CreateCounter<long>("gateway.between").Add(7);
        other.CreateCounter<long>("gateway.shared", description: "Shared too.").Add(2);
        other.CreateUpDownCounter<long>("gateway.shared.total").Add(3);

        Assert.Equal(
            $$"""
            # HELP gateway_shared_total Shared.
            # TYPE gateway_shared_total counter
            gateway_shared_total{{scope.Label}}} 1
            gateway_shared_total{otel_scope_name="{{other.Name}}"} 2
            # TYPE gateway_between_total counter
            gateway_between_total{{scope.Label}}} 7

            """,
            scope.Scrape());
    }

    [Fact]
    public void Concurrent_scrapes_each_collect_afresh_and_get_the_whole_text()
    {
        using var scope = new MetricsScope();
        var collections = 0;
        scope.Meter.CreateObservableCounter("gateway.collections", () =>
        {
            // A slow callback makes the scrapes overlap: the SDK would fold overlapping collections into one.
            Thread.Sleep(5);
            return Interlocked.Increment(ref collections);
        });
        for (var i = 0; i < 50; i++)
            scope.Meter.CreateCounter<long>($"gateway.counter{i}").Add(i, new KeyValuePair<string, object?>("n", i));
        var counters = scope.Scrape().Split('\n')[2..];

        // Threads of their own, released together: the thread pool of a two-core machine would run them in turn.
        var scrapes = new string[8];
        using var start = new ManualResetEventSlim();
        var threads = new Thread[scrapes.Length];
        for (var i = 0; i < threads.Length; i++)
        {
            var slot = i;
            threads[i] = new Thread(() =>
            {
                start.Wait();
                scrapes[slot] = scope.Scrape();
            });
            threads[i].Start();
        }

        start.Set();
        foreach (var thread in threads)
            thread.Join();

        var seen = new List<string>();
        foreach (var text in scrapes)
        {
            var lines = text.Split('\n');
            Assert.Equal("# TYPE gateway_collections_total counter", lines[0]);
            seen.Add(lines[1]);
            Assert.Equal(counters, lines[2..]);
        }

        Assert.Equal(scrapes.Length, seen.Distinct().Count());
        Assert.Equal(50 * 2 + 1, counters.Length);
    }

    [Fact]
    public void Scrape_after_the_provider_is_disposed_throws()
    {
        var scope = new MetricsScope();
        scope.Dispose();

        Assert.Throws<ObjectDisposedException>(() => scope.Exporter.Scrape());
    }

    [Fact]
    public void Content_type_is_text_format_004()
    {
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", PrometheusMetricsExporter.ContentType);
    }

    /// <summary>A meter of a test's own, and a MeterProvider that reads it through a Prometheus exporter.</summary>
    private sealed class MetricsScope : IDisposable
    {
        private readonly MeterProvider? _provider;

        public MetricsScope(Action<MeterProviderBuilder>? configure = null)
        {
            Meter = new Meter($"test.{Guid.NewGuid():N}");
            var builder = Sdk.CreateMeterProviderBuilder().AddMeter(Meter.Name).AddReader(Exporter.Reader);
            configure?.Invoke(builder);
            _provider = builder.Build();
        }

        public Meter Meter { get; }

        public PrometheusMetricsExporter Exporter { get; } = new();

        /// <summary>The labels every sample of this meter starts with, brace included.</summary>
        public string Label => $"{{otel_scope_name=\"{Meter.Name}\"";

        public string Scrape() => Encoding.UTF8.GetString(Exporter.Scrape());

        public void Dispose()
        {
            _provider?.Dispose();
            Meter.Dispose();
        }
    }
}
