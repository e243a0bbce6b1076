using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Udp;

namespace Gateway.Tests.Observability;

/// <summary>
/// A real Prometheus server (Debian's prometheus package) scrapes a real gateway process; after known traffic its
/// query API must show the gateway's counters and histogram with the values that traffic makes.
/// </summary>
public sealed class PrometheusScrapeTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Prometheus_scrapes_the_gateways_counters_and_latency_histogram_after_known_traffic()
    {
        var environment = GatewayProcessEnvironment.OnFreePorts(out var httpPort);
        var echoPort = FreePort.Next();
        var udpPort = FreePort.Next();
        environment["Gateway__Endpoints__echo__Port"] = echoPort.ToString();
        environment["Gateway__Endpoints__udp__Port"] = udpPort.ToString();
        await using var gateway = await StartGatewayAsync(environment);

        await using var prometheus = await PrometheusServer.StartAsync(httpPort);

        // Five 5-byte frames echoed back on one TCP connection (9 bytes each way with the 4-byte header).
        await EchoAsync(echoPort, frames: 5);

        // Three 4-byte datagrams echoed back.
        using (var udp = new UdpTestClient(new IPEndPoint(IPAddress.Loopback, udpPort)))
        {
            for (var i = 0; i < 3; i++)
            {
                await udp.SendAsync("ping");
                await udp.ReceiveAsync();
            }
        }

        // Two HTTP publishes to a topic nobody subscribes to.
        using (var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") })
        {
            for (var i = 0; i < 2; i++)
                (await http.PostAsync("/api/topics/metrics/nobody", new StringContent("x"))).EnsureSuccessStatusCode();
        }

        await prometheus.WaitForValueAsync("""gateway_messages_published_total{gateway_endpoint="echo",gateway_protocol="tcp"}""", 5);
        await prometheus.WaitForValueAsync("""gateway_messages_delivered_total{gateway_endpoint="echo"}""", 5);
        await prometheus.WaitForValueAsync("""gateway_frames_total{gateway_endpoint="echo",network_io_direction="receive"}""", 5);
        await prometheus.WaitForValueAsync("""gateway_io_bytes_total{gateway_endpoint="echo",network_io_direction="transmit"}""", 45);
        await prometheus.WaitForValueAsync("""gateway_connections{gateway_endpoint="echo"}""", 0);
        await prometheus.WaitForValueAsync("""gateway_message_delivery_duration_seconds_count{gateway_endpoint="echo"}""", 5);
        await prometheus.WaitForValueAsync("""gateway_message_delivery_duration_seconds_bucket{gateway_endpoint="echo",le="+Inf"}""", 5);
        await prometheus.WaitForValueAsync("""gateway_messages_published_total{gateway_endpoint="udp",gateway_protocol="udp"}""", 3);
        await prometheus.WaitForValueAsync("""gateway_datagrams_total{gateway_endpoint="udp",network_io_direction="transmit"}""", 3);
        await prometheus.WaitForValueAsync("""gateway_io_bytes_total{gateway_endpoint="udp",network_io_direction="receive"}""", 12);
        await prometheus.WaitForValueAsync("""gateway_messages_published_total{gateway_endpoint="http",gateway_protocol="http"}""", 2);
        await prometheus.WaitForValueAsync("""gateway_messages_unrouted_total{gateway_endpoint="http"}""", 2);
        await prometheus.WaitForValueAsync("""gateway_frames_total{gateway_endpoint="http",network_io_direction="receive"}""", 2);
        await prometheus.WaitForValueAsync("""gateway_io_bytes_total{gateway_endpoint="http",network_io_direction="receive"}""", 2);

        // Five loopback echoes took well under ten seconds between them, and more than nothing.
        var latencySum = await prometheus.QueryAsync("""gateway_message_delivery_duration_seconds_sum{gateway_endpoint="echo"}""");
        Assert.InRange(latencySum!.Value, double.Epsilon, 10);
        // The cumulative buckets never fall as the bound rises, and the last one holds all five.
        var buckets = await prometheus.QueryVectorAsync("""gateway_message_delivery_duration_seconds_bucket{gateway_endpoint="echo"}""");
        var ordered = buckets.OrderBy(bucket => bucket.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(bucket.Labels["le"], CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(17, ordered.Count);
        Assert.True(ordered.Zip(ordered.Skip(1)).All(pair => pair.First.Value <= pair.Second.Value), "cumulative buckets");

        // The built-in meters come along: hosting's request histogram (the scrapes themselves) and the runtime's.
        Assert.True((await prometheus.QueryAsync("sum(http_server_request_duration_seconds_count)")) > 0);
        Assert.True((await prometheus.QueryAsync("sum(dotnet_gc_heap_total_allocated_bytes_total)")) > 0);
        Assert.True((await prometheus.QueryAsync("""sum(kestrel_active_connections{otel_scope_name="Microsoft.AspNetCore.Server.Kestrel"})""")) >= 0);
    }

    [Fact]
    public async Task Delivery_latency_can_be_switched_off_and_the_counters_still_count()
    {
        var environment = GatewayProcessEnvironment.OnFreePorts(out var httpPort);
        var echoPort = FreePort.Next();
        environment["Gateway__Endpoints__echo__Port"] = echoPort.ToString();
        environment["Gateway__Telemetry__MeasureDeliveryLatency"] = "false";
        await using var gateway = await StartGatewayAsync(environment);
        await EchoAsync(echoPort, frames: 1);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var response = await http.GetAsync("/metrics");
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        Assert.Contains("""gateway_messages_delivered_total{otel_scope_name="Gateway",gateway_endpoint="echo",gateway_protocol="tcp"} 1""", text);
        Assert.DoesNotContain("gateway_message_delivery_duration", text);
    }

    private static async Task<ProcessRunner> StartGatewayAsync(Dictionary<string, string> environment)
    {
        var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll], environment);
        try
        {
            await gateway.WaitForOutputAsync(output => output.Contains("Application started", StringComparison.Ordinal), s_timeout);
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync(); // a gateway that never started must not outlive the test
            throw;
        }
    }

    /// <summary>Sends 5-byte frames to the echo endpoint on one connection, each after the previous one's echo, then closes.</summary>
    private static async Task EchoAsync(int port, int frames)
    {
        await using var echo = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        for (var i = 0; i < frames; i++)
        {
            await echo.SendAsync(FramedClient.LengthPrefixed("hello"u8));
            await echo.ReadLengthPrefixedAsync();
        }
    }

    /// <summary>A Prometheus server on a free port, scraping one gateway's <c>/metrics</c> every second.</summary>
    private sealed class PrometheusServer : IAsyncDisposable
    {
        private readonly ProcessRunner _process;
        private readonly string _directory;
        private readonly HttpClient _http;

        private PrometheusServer(ProcessRunner process, string directory, int port)
        {
            _process = process;
            _directory = directory;
            _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        }

        public static async Task<PrometheusServer> StartAsync(int gatewayHttpPort)
        {
            var directory = Directory.CreateTempSubdirectory("gateway-prometheus-").FullName;
            var config = Path.Combine(directory, "prometheus.yml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                scrape_configs:
                  - job_name: gateway
                    metrics_path: /metrics
                    static_configs:
                      - targets: ["127.0.0.1:{gatewayHttpPort}"]
                """);
            var port = FreePort.Next();
            var process = ProcessRunner.Start("prometheus",
                [$"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "data")}", $"--web.listen-address=127.0.0.1:{port}"]);
            var server = new PrometheusServer(process, directory, port);
            await Eventually.TrueAsync(async () => await server.QueryAsync("""up{job="gateway"}""") == 1,
                "Prometheus scraped the gateway successfully", s_timeout);
            return server;
        }

        /// <summary>Waits until the query's one series has the value (scrapes come every second).</summary>
        public async Task WaitForValueAsync(string query, double expected)
        {
            double? last = null;
            try
            {
                await Eventually.TrueAsync(async () => (last = await QueryAsync(query)) == expected, $"{query} == {expected}", s_timeout);
            }
            catch (TimeoutException ex)
            {
                throw new TimeoutException($"{ex.Message} (last value: {last?.ToString(CultureInfo.InvariantCulture) ?? "no series"})", ex);
            }
        }

        /// <summary>The value of a query's single series; null when there is none.</summary>
        public async Task<double?> QueryAsync(string query)
        {
            var vector = await QueryVectorAsync(query);
            return vector.Count == 1 ? vector[0].Value : null;
        }

        public async Task<List<(Dictionary<string, string> Labels, double Value)>> QueryVectorAsync(string query)
        {
            HttpResponseMessage response;
            try
            {
                response = await _http.GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(query));
            }
            catch (HttpRequestException)
            {
                return []; // not listening yet
            }

            using var _ = response;
            if (!response.IsSuccessStatusCode) return [];
            using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            return json.RootElement.GetProperty("data").GetProperty("result").EnumerateArray()
                .Select(series => (
                    series.GetProperty("metric").EnumerateObject().ToDictionary(label => label.Name, label => label.Value.GetString()!),
                    double.Parse(series.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture)))
                .ToList();
        }

        public async ValueTask DisposeAsync()
        {
            _http.Dispose();
            await _process.DisposeAsync();
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // Prometheus may still be closing its files; a temporary folder left behind harms nothing.
            }
        }
    }
}
