using System.Net;
using System.Net.Http.Json;
using Gateway.Configuration;
using Gateway.Tcp;
using Gateway.Udp;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The real gateway on real Kestrel sockets, started in-process with the configuration a test gives
/// (as command-line style "Key=Value" pairs). Log lines are captured so tests can check what was said.
/// The process's environment variables apply beneath those settings: Gateway__Transport__Kind picks the transport of
/// every test that names none (scripts/test.sh runs the functional tests on each).
/// </summary>
internal sealed class TestGateway : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestGateway(WebApplication app, CapturedLogs logs)
    {
        _app = app;
        Logs = logs;
    }

    public CapturedLogs Logs { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Starts a gateway with only the given settings; no appsettings.json is read.</summary>
    public static Task<TestGateway> StartAsync(params string[] settings) =>
        StartWithContentRootAsync(Directory.CreateTempSubdirectory("gateway-test-").FullName, settings);

    /// <summary>Starts a gateway whose framed endpoints run on <paramref name="transport"/>, with the given settings.</summary>
    public static Task<TestGateway> StartAsync(TransportKind transport, params string[] settings) =>
        StartAsync([$"Gateway:Transport:Kind={transport}", .. settings]);

    /// <summary>Starts a gateway with only the given settings, logging to <paramref name="logs"/>, which outlive a failed start.</summary>
    public static Task<TestGateway> StartAsync(CapturedLogs logs, params string[] settings) =>
        StartWithContentRootAsync(Directory.CreateTempSubdirectory("gateway-test-").FullName, settings, logs);

    /// <summary>Starts a gateway reading appsettings.json from <paramref name="contentRoot"/>, overridden by <paramref name="settings"/>.</summary>
    public static Task<TestGateway> StartWithContentRootAsync(string contentRoot, params string[] settings) =>
        StartWithContentRootAsync(contentRoot, settings, new CapturedLogs());

    private static async Task<TestGateway> StartWithContentRootAsync(string contentRoot, string[] settings, CapturedLogs logs)
    {
        var args = settings.Prepend("Gateway:Http:Port=0").Select(setting => "--" + setting).ToArray();
        var app = GatewayApplication.Build(args, contentRoot, builder =>
        {
            builder.Logging.AddProvider(logs);
            builder.Logging.SetMinimumLevel(LogLevel.Debug);
        });
        try
        {
            await GatewayApplication.StartAsync(app);
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }

        return new TestGateway(app, logs);
    }

    /// <summary>The bound address of a TCP endpoint (the real port when 0 was configured).</summary>
    public IPEndPoint EndPointOf(string endpointName)
    {
        var endpoint = Services.GetRequiredService<TcpEndpointCatalog>().Find(endpointName)
            ?? throw new ArgumentException($"No endpoint '{endpointName}'.", nameof(endpointName));
        return (IPEndPoint)endpoint.BoundEndPoint!;
    }

    /// <summary>A UDP endpoint: its bound address (the real port when 0 was configured) and its counters.</summary>
    public UdpEndpoint UdpEndpoint(string endpointName) =>
        Services.GetRequiredService<UdpEndpointCatalog>().Find(endpointName)
            ?? throw new ArgumentException($"No UDP endpoint '{endpointName}'.", nameof(endpointName));

    /// <summary>The bound address of a UDP endpoint (the real port when 0 was configured).</summary>
    public IPEndPoint UdpEndPointOf(string endpointName) => UdpEndpoint(endpointName).BoundEndPoint!;

    /// <summary>Waits until <paramref name="count"/> connections are open: each is subscribed by then.</summary>
    public Task WaitForConnectionsAsync(int count)
    {
        var registry = Services.GetRequiredService<Gateway.Connections.ConnectionRegistry>();
        return Eventually.TrueAsync(() => registry.Count >= count, $"{count} connections open");
    }

    /// <summary>What the limits of <paramref name="endpointName"/> refused so far, by reason, as <c>GET /api/endpoints</c> lists it.</summary>
    public async Task<IReadOnlyDictionary<string, long>> RejectionsAsync(string endpointName)
    {
        using var http = new HttpClient { BaseAddress = HttpAddress };
        var endpoints = await http.GetFromJsonAsync<List<Gateway.Http.AdminApi.EndpointInfo>>("/api/endpoints");
        return endpoints!.Single(endpoint => endpoint.Name == endpointName).Rejections;
    }

    public Uri HttpAddress =>
        new($"http://{Services.GetRequiredService<Gateway.Http.HttpHostListener>().BoundEndPoint}");

    /// <summary>The HTTPS port's address, named as the test certificates name the server.</summary>
    public Uri HttpsAddress =>
        new($"https://localhost:{((IPEndPoint)Services.GetRequiredService<Gateway.Http.HttpHostListener>().SecureEndPoint!).Port}");

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}
