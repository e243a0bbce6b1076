using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Overload;

/// <summary><c>Gateway:Overload</c>: on by default relative to the memory the process may use, and checked at start.</summary>
public sealed class OverloadSettingsTests
{
    [Fact]
    public async Task By_default_readiness_reports_the_working_set_against_thresholds_of_90_and_80_percent_of_the_memory_the_process_may_use()
    {
        await using var gateway = await TestGateway.StartAsync();
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var ready = await http.GetAsync("/readyz");
        var overload = (await ready.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("checks").GetProperty("overload");

        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("Healthy", overload.GetProperty("status").GetString());
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var data = overload.GetProperty("data");
        Assert.Equal((long)(available * 0.9), long.Parse(data.GetProperty("highThresholdBytes").GetString()!));
        Assert.Equal((long)(available * 0.8), long.Parse(data.GetProperty("lowThresholdBytes").GetString()!));
        Assert.InRange(long.Parse(data.GetProperty("workingSetBytes").GetString()!), 1, available);
    }

    [Theory]
    [InlineData(new[] { "Gateway:Overload:LowMemoryPercent=95" },
        "Gateway:Overload:LowMemoryPercent must give a threshold below Gateway:Overload:HighMemoryPercent")]
    [InlineData(new[] { "Gateway:Overload:HighMemoryBytes=1000000", "Gateway:Overload:LowMemoryBytes=1000000" },
        "Gateway:Overload:LowMemoryBytes must give a threshold below Gateway:Overload:HighMemoryBytes")]
    [InlineData(new[] { "Gateway:Overload:HighMemoryPercent=150" }, "Gateway:Overload:HighMemoryPercent must be above 0 and at most 100 (was 150)")]
    [InlineData(new[] { "Gateway:Overload:LowMemoryBytes=-1" }, "Gateway:Overload:LowMemoryBytes must be positive (was -1)")]
    [InlineData(new[] { "Gateway:Overload:SampleInterval=00:00:00" }, "Gateway:Overload:SampleInterval must be positive")]
    [InlineData(new[] { "Gateway:Overload:RetryAfter=00:00:00.500" }, "Gateway:Overload:RetryAfter must be at least 1 second")]
    public async Task Bad_overload_settings_stop_the_start_naming_the_setting(string[] settings, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(settings));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }
}
