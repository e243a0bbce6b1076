using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;

namespace Gateway.HostileTests.Infrastructure;

/// <summary>
/// A gateway process under attack, seen as its operator sees it: whether it is still up, its resident memory
/// (<c>VmRSS</c>), <c>GET /api/endpoints</c> (connections, rejections, failed TLS handshakes) and how many lines it logged.
/// </summary>
internal sealed class HostileGateway : IAsyncDisposable
{
    private readonly GatewayProcess _process;
    private readonly HttpClient _http;
    private long _peakResidentBytes;

    private HostileGateway(GatewayProcess process)
    {
        _process = process;
        _http = process.CreateHttpClient();
    }

    public int HttpPort => _process.HttpPort;

    public Uri HttpAddress => _process.HttpAddress;

    /// <summary>Starts the repository's gateway with <paramref name="settings"/> (<c>Gateway:...=value</c>), on free ports, once ready.</summary>
    public static async Task<HostileGateway> StartAsync(params string[] settings) =>
        new(await GatewayProcess.StartAsync(settings, waitForBackplane: false));

    /// <summary>The resident memory now (<c>VmRSS</c> of <c>/proc/{pid}/status</c>); also kept as the peak seen so far.</summary>
    public long ResidentBytes()
    {
        var bytes = ProcessMemory.ResidentBytes(_process.ProcessId);
        _peakResidentBytes = Math.Max(_peakResidentBytes, bytes);
        return bytes;
    }

    /// <summary>Reads <see cref="ResidentBytes"/> every 100 ms until <paramref name="attack"/> ends, for its peak; then awaits it.</summary>
    public async Task SampleMemoryUntilAsync(Task attack)
    {
        while (!attack.IsCompleted)
        {
            ResidentBytes();
            await Task.WhenAny(attack, Task.Delay(100));
        }

        await attack;
    }

    /// <summary>The highest <see cref="ResidentBytes"/> read so far.</summary>
    public long PeakResidentBytes => _peakResidentBytes;

    /// <summary>Lines the process has written to its standard output and error so far.</summary>
    public int LogLines => LinesOf(_process.Output) - 2; // less the "stdout:" and "stderr:" headings

    public string Output => _process.Output;

    /// <summary>Fails with the process's output unless it still answers <c>/healthz</c>.</summary>
    public async Task AssertAliveAsync()
    {
        try
        {
            using var response = await _http.GetAsync("/healthz");
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"/healthz answered {(int)response.StatusCode}.\n{Tail()}");
        }
        catch (HttpRequestException ex)
        {
            Assert.Fail($"The gateway no longer answers /healthz ({ex.Message}).\n{Tail()}");
        }
    }

    /// <summary>The entry of <paramref name="endpoint"/> in <c>GET /api/endpoints</c>.</summary>
    public async Task<JsonElement> EndpointAsync(string endpoint)
    {
        var endpoints = await _http.GetFromJsonAsync<JsonElement[]>("/api/endpoints");
        foreach (var entry in endpoints!)
        {
            if (entry.GetProperty("name").GetString() == endpoint) return entry;
        }

        throw new KeyNotFoundException($"No endpoint {endpoint} in /api/endpoints.");
    }

    /// <summary>The live connections of <paramref name="endpoint"/> (for UDP, the peers tracked).</summary>
    public async Task<int> ConnectionsAsync(string endpoint) => (await EndpointAsync(endpoint)).GetProperty("connections").GetInt32();

    /// <summary>How many of <paramref name="reason"/> the endpoint's limits refused (0 when none yet).</summary>
    public async Task<long> RejectionsAsync(string endpoint, string reason) =>
        (await EndpointAsync(endpoint)).GetProperty("rejections").TryGetProperty(reason, out var count) ? count.GetInt64() : 0;

    public async Task<long> FailedTlsHandshakesAsync(string endpoint) => (await EndpointAsync(endpoint)).GetProperty("failedTlsHandshakes").GetInt64();

    /// <summary>A counter of <c>/metrics</c> for one endpoint, such as <c>gateway_framing_errors_total</c>.</summary>
    public async Task<double> EndpointMetricAsync(string metric, string endpoint, params string[] labels) =>
        await _process.MetricAsync(metric, [$"gateway_endpoint=\"{endpoint}\"", .. labels]);

    /// <summary>The loopback address of a TCP or UDP endpoint, from <c>GET /api/endpoints</c> (its ports are picked at start).</summary>
    public async Task<IPEndPoint> EndPointOfAsync(string endpoint)
    {
        var address = (await EndpointAsync(endpoint)).GetProperty("address").GetString()!;
        return IPEndPoint.Parse(address);
    }

    /// <summary>A TCP connection to <paramref name="endpoint"/>; for when a raw socket is what the abuse needs.</summary>
    public async Task<Socket> ConnectRawAsync(IPEndPoint endpoint)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint).WaitAsync(TimeSpan.FromSeconds(5));
        return socket;
    }

    public HttpClient CreateHttpClient() => _process.CreateHttpClient();

    private string Tail()
    {
        var output = _process.Output;
        return output.Length <= 4000 ? output : "...\n" + output[^4000..];
    }

    private static int LinesOf(string text)
    {
        var lines = 0;
        foreach (var c in text)
        {
            if (c == '\n') lines++;
        }

        return lines;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _process.DisposeAsync();
    }
}
