using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;

namespace Gateway.Tests.Observability;

/// <summary>/healthz and /readyz: JSON with a status for each check; readiness names every listener and fails while shutting down.</summary>
public sealed class HealthTests
{
    private static readonly string[] s_settings =
    [
        "Gateway:Endpoints:lines:Port=0",
        "Gateway:Endpoints:lines:Framing:Kind=Line",
        "Gateway:Endpoints:datagrams:Protocol=Udp",
        "Gateway:Endpoints:datagrams:Port=0",
    ];

    [Fact]
    public async Task Liveness_and_readiness_answer_json_and_readiness_lists_each_bound_listener()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var live = await http.GetAsync("/healthz");
        var ready = await http.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal("application/json", live.Content.Headers.ContentType?.MediaType);
        Assert.Equal("Healthy", (await live.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var listeners = (await ready.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("checks").GetProperty("listeners");
        Assert.Equal("Healthy", listeners.GetProperty("status").GetString());
        var data = listeners.GetProperty("data");
        Assert.Equal(gateway.EndPointOf("lines").ToString(), data.GetProperty("lines").GetString());
        Assert.Equal(gateway.UdpEndPointOf("datagrams").ToString(), data.GetProperty("datagrams").GetString());
        Assert.Equal($"127.0.0.1:{gateway.HttpAddress.Port}", data.GetProperty("http").GetString());
    }

    [Fact]
    public async Task Readiness_fails_once_shutdown_has_begun()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        var health = gateway.Services.GetRequiredService<HealthCheckService>();

        gateway.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
        var report = await health.CheckHealthAsync(check => check.Tags.Contains("ready"));

        Assert.Equal(HealthStatus.Unhealthy, report.Status);
        Assert.Contains("Shutting down", report.Entries["listeners"].Description, StringComparison.Ordinal);
    }
}
