using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Diagnostics.NETCore.Client;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The real gateway binary as an operating-system process (what a deployment runs), on free ports of its own: what a
/// test knows of it is what a user would, its HTTP address, <c>/readyz</c>, <c>/metrics</c> and what it printed.
/// Disposing it kills the process, as a crash would.
/// </summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private static readonly TimeSpan s_startTimeout = TimeSpan.FromSeconds(30);

    private readonly ProcessRunner _process;
    private readonly HttpClient _http;

    private GatewayProcess(ProcessRunner process, int httpPort)
    {
        _process = process;
        HttpPort = httpPort;
        HttpAddress = new Uri($"http://127.0.0.1:{httpPort}");
        _http = new HttpClient { BaseAddress = HttpAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    public int HttpPort { get; }

    /// <summary>The operating system's id of the process, for what <c>/proc/{id}</c> tells of it.</summary>
    public int ProcessId => _process.Id;

    public Uri HttpAddress { get; }

    /// <summary>What the process printed so far: its log (standard output), then standard error.</summary>
    public string Output => $"stdout:\n{_process.StandardOutput}\nstderr:\n{_process.StandardError}";

    /// <summary>
    /// Starts the gateway with <see cref="GatewayProcessEnvironment.OnFreePorts"/> plus <paramref name="settings"/>, each
    /// <c>Key=value</c> with the key as an environment variable (<c>Gateway__Backplane__Kind</c>) or a configuration path
    /// (<c>Gateway:Backplane:Kind</c>); returns once <c>/readyz</c> answers 200 and, when <paramref name="waitForBackplane"/>,
    /// its <c>backplane</c> check is Healthy (a probe made the round trip through NATS).
    /// </summary>
    public static async Task<GatewayProcess> StartAsync(IEnumerable<string> settings, bool waitForBackplane = true)
    {
        var environment = GatewayProcessEnvironment.OnFreePorts(out var httpPort);
        foreach (var setting in settings)
        {
            var separator = setting.IndexOf('=', StringComparison.Ordinal);
            if (separator <= 0) throw new ArgumentException($"'{setting}' is not Key=value.", nameof(settings));
            environment[setting[..separator].Replace(":", "__", StringComparison.Ordinal)] = setting[(separator + 1)..];
        }

        var gateway = new GatewayProcess(ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll], environment), httpPort);
        try
        {
            await gateway.WaitUntilReadyAsync(waitForBackplane);
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync(); // a gateway that never became ready must not outlive the test
            throw;
        }
    }

    private async Task WaitUntilReadyAsync(bool waitForBackplane)
    {
        var clock = Stopwatch.StartNew();
        var last = "no answer yet";
        while (clock.Elapsed < s_startTimeout)
        {
            if (ExitCode() is { } exitCode)
                throw new InvalidOperationException($"The gateway on HTTP port {HttpPort} exited with code {exitCode} before it was ready.\n{Output}");
            try
            {
                using var response = await _http.GetAsync("/readyz");
                var body = await response.Content.ReadAsStringAsync();
                last = $"{(int)response.StatusCode} {body}";
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    if (!waitForBackplane) return;
                    var readiness = JsonDocument.Parse(body).RootElement;
                    if (readiness.GetProperty("checks").TryGetProperty("backplane", out var backplane) && backplane.GetProperty("status").GetString() == "Healthy")
                        return;
                }
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message; // not listening yet
            }
            catch (TaskCanceledException)
            {
                last = "/readyz timed out";
            }

            await Task.Delay(50);
        }

        throw new TimeoutException(
            $"The gateway on HTTP port {HttpPort} was not ready{(waitForBackplane ? " with its backplane Healthy" : "")} within {s_startTimeout}; last /readyz: {last}\n{Output}");
    }

    /// <summary>The process's exit code once it has exited; null while it runs.</summary>
    private int? ExitCode()
    {
        try
        {
            return _process.ExitCode;
        }
        catch (InvalidOperationException)
        {
            return null; // still running
        }
    }

    /// <summary>The <c>/readyz</c> document (200 or 503 alike).</summary>
    public async Task<(HttpStatusCode Status, JsonElement Body)> ReadinessAsync()
    {
        using var response = await _http.GetAsync("/readyz");
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    /// <summary>The <c>backplane</c> entry of <c>/readyz</c>: <c>status</c>, <c>description</c>, <c>data</c>.</summary>
    public async Task<JsonElement> BackplaneCheckAsync() => (await ReadinessAsync()).Body.GetProperty("checks").GetProperty("backplane");

    /// <summary>Healthy, Degraded or Unhealthy.</summary>
    public async Task<string> BackplaneStatusAsync() => (await BackplaneCheckAsync()).GetProperty("status").GetString()!;

    /// <summary>One scrape of <c>/metrics</c>.</summary>
    public async Task<Metrics> MetricsAsync() => Metrics.Parse(await _http.GetStringAsync("/metrics"));

    /// <summary>The sum of the series of <paramref name="name"/> whose labels include <paramref name="labels"/> (<c>reason="queue_full_oldest"</c>).</summary>
    public async Task<double> MetricAsync(string name, params string[] labels) => (await MetricsAsync()).Value(name, labels);

    /// <summary>
    /// The process's resident memory (<c>VmRSS</c>) once it has run a full collection, as the baseline of a growth to
    /// measure: what the process's first full collection costs once is then not counted as what the measured peers
    /// cost. That first one reads every live object, and on a machine whose kernel maps no shared zero page for memory
    /// read before it is written (this CI's virtual machines), reading the runtime's preallocated and still untouched
    /// arrays (OpenTelemetry's metric points, about 8 MB) makes them resident.
    /// </summary>
    public async Task<long> SettledResidentBytesAsync()
    {
        await CollectGarbageAsync();
        return ProcessMemory.ResidentBytes(ProcessId);
    }

    /// <summary>
    /// Has the process run a full, blocking garbage collection, the way <c>dotnet-gcdump</c> makes one: through the
    /// runtime's diagnostics port, with an event session asking for a heap collection. Returns once the runtime's own
    /// metric counts one more gen2 collection.
    /// </summary>
    private async Task CollectGarbageAsync()
    {
        const string gen2 = "gc_heap_generation=\"gen2\"";
        var before = await MetricAsync("dotnet_gc_collections_total", gen2);
        // GC (0x1) and GCHeapCollect (0x800000): enabling the latter is what induces the collection.
        var provider = new EventPipeProvider("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, 0x1 | 0x800000);
        var session = await new DiagnosticsClient(ProcessId).StartEventPipeSessionAsync([provider], requestRundown: false, circularBufferMB: 1,
            CancellationToken.None);
        try
        {
            // The events are not read, only drained, so that the session never waits on a full buffer.
            var drain = session.EventStream.CopyToAsync(Stream.Null);
            await Eventually.TrueAsync(async () => await MetricAsync("dotnet_gc_collections_total", gen2) > before,
                "the gateway ran the full collection asked through its diagnostics port", TimeSpan.FromSeconds(10));
            await session.StopAsync(CancellationToken.None);
            await drain;
        }
        finally
        {
            session.Dispose();
        }
    }

    /// <summary>An HTTP client on this gateway; the caller disposes it.</summary>
    public HttpClient CreateHttpClient(string? apiKey = null)
    {
        var http = new HttpClient { BaseAddress = HttpAddress, Timeout = TimeSpan.FromSeconds(10) };
        if (apiKey is not null) http.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        return http;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _process.DisposeAsync();
    }

    /// <summary>A Prometheus text exposition, read line by line: <c>name{label="value",...} number</c>.</summary>
    internal sealed class Metrics
    {
        private readonly List<(string Name, string Labels, double Value)> _series;

        private Metrics(List<(string Name, string Labels, double Value)> series, string text)
        {
            _series = series;
            Text = text;
        }

        public string Text { get; }

        public static Metrics Parse(string text)
        {
            var series = new List<(string, string, double)>();
            foreach (var raw in text.Split('\n'))
            {
                var line = raw.TrimEnd('\r');
                if (line.Length == 0 || line[0] == '#') continue;
                var valueAt = line.LastIndexOf(' ');
                if (valueAt <= 0) continue;
                var key = line[..valueAt];
                var brace = key.IndexOf('{', StringComparison.Ordinal);
                var name = brace < 0 ? key : key[..brace];
                var labels = brace < 0 ? "" : key[(brace + 1)..^1];
                if (double.TryParse(line[(valueAt + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                    series.Add((name, labels, value));
            }

            return new Metrics(series, text);
        }

        /// <summary>
        /// The sum over the series of <paramref name="name"/> that carry every one of <paramref name="labels"/>
        /// (each as written in the exposition, <c>reason="queue_full_oldest"</c>); throws when no series matches, so a
        /// renamed metric fails loudly instead of reading as 0.
        /// </summary>
        public double Value(string name, params string[] labels)
        {
            var matching = _series.Where(series => series.Name == name && labels.All(label => HasLabel(series.Labels, label))).ToList();
            if (matching.Count == 0)
            {
                var known = string.Join(", ", _series.Select(series => series.Name).Where(n => n.StartsWith("gateway_backplane", StringComparison.Ordinal)).Distinct());
                throw new KeyNotFoundException($"No series {name}{{{string.Join(",", labels)}}} in /metrics (backplane series present: {known}).");
            }

            return matching.Sum(series => series.Value);
        }

        private static bool HasLabel(string labels, string label) =>
            labels.StartsWith(label + ",", StringComparison.Ordinal) || labels == label || labels.Contains("," + label + ",", StringComparison.Ordinal)
            || labels.EndsWith("," + label, StringComparison.Ordinal);
    }
}
