using System.Net;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Observability;

/// <summary>Serilog console output of a real gateway process: readable text by default, JSON on request, levels per namespace from the environment.</summary>
public sealed class LoggingTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Default_output_is_one_readable_line_per_event_with_time_level_and_category()
    {
        var (environment, httpPort, echoPort) = Environment();
        await using var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll], environment);
        await gateway.WaitForOutputAsync(output => output.Contains("Endpoint echo listening", StringComparison.Ordinal), s_timeout);

        await ConnectAndCloseAsync(echoPort);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        await http.PostAsync("/api/topics/news?access_token=not-for-logs", new StringContent("hi"));

        await gateway.WaitForOutputAsync(output => output.Contains("closed after", StringComparison.Ordinal), s_timeout);
        await gateway.WaitForOutputAsync(output => output.Contains("HTTP POST", StringComparison.Ordinal), s_timeout);
        Assert.Matches(@"(?m)^\d\d:\d\d:\d\d\.\d{3} INF Gateway\.Tcp Connection \S+ \(tcp\) opened on echo from 127\.0\.0\.1:\d+ as anonymous$", gateway.StandardOutput);
        Assert.Matches(@"(?m)^\d\d:\d\d:\d\d\.\d{3} INF Gateway\.Http\.Requests HTTP POST /api/topics/news responded 401 in \d+\.\d ms$", gateway.StandardOutput);
        Assert.DoesNotContain("not-for-logs", gateway.StandardOutput, StringComparison.Ordinal);
        // Each endpoint is announced once, with its protocol; the host's "Now listening on: http://..." lines, which name
        // the raw TCP listeners as HTTP addresses too, are left out.
        Assert.Contains($"INF Gateway Endpoint echo listening on 127.0.0.1:{echoPort} (tcp): LengthField framing", gateway.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("Now listening on", gateway.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Json_output_and_a_level_override_from_the_environment()
    {
        var (environment, _, echoPort) = Environment();
        environment["Gateway__LogFormat"] = "Json";
        environment["Serilog__MinimumLevel__Override__Gateway.Tcp"] = "Warning";
        await using var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll], environment);
        await gateway.WaitForOutputAsync(output => output.Contains("Application started", StringComparison.Ordinal), s_timeout);

        await ConnectAndCloseAsync(echoPort);
        await gateway.WaitForOutputAsync(output => output.Contains("\"Endpoint\":\"udp\"", StringComparison.Ordinal), s_timeout);
        await Task.Delay(500);

        var events = gateway.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonDocument.Parse(line).RootElement).ToList();
        Assert.All(events, e => Assert.True(e.TryGetProperty("Timestamp", out _) && e.TryGetProperty("Level", out _) && e.TryGetProperty("RenderedMessage", out _)));
        var categories = events.Select(e => e.GetProperty("Properties").GetProperty("SourceContext").GetString()).ToHashSet();
        Assert.Contains("Gateway", categories);
        // Gateway.Tcp logs its endpoints and connections at Information, which the override silences.
        Assert.DoesNotContain("Gateway.Tcp", categories);
    }

    [Fact]
    public async Task The_frameworks_logging_levels_reach_serilog_and_win_over_its_section()
    {
        var (environment, httpPort, echoPort) = Environment();
        // appsettings.json's Serilog section sets Default to Information; Logging's Default wins over it, and a category
        // of its own lets that category's Information lines through again.
        environment["Logging__LogLevel__Default"] = "Warning";
        environment["Logging__LogLevel__Gateway.Tcp"] = "Information";
        await using var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll], environment);
        await gateway.WaitForOutputAsync(output => output.Contains("Application started", StringComparison.Ordinal), s_timeout);

        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        await http.PostAsync("/api/topics/news", new StringContent("hi"));
        await ConnectAndCloseAsync(echoPort);
        await gateway.WaitForOutputAsync(output => output.Contains("closed after", StringComparison.Ordinal), s_timeout);
        await Task.Delay(500);

        Assert.Contains("INF Gateway.Tcp Connection", gateway.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("HTTP POST", gateway.StandardOutput, StringComparison.Ordinal); // Gateway.Http.Requests, Information
        Assert.DoesNotContain("Endpoint echo listening", gateway.StandardOutput, StringComparison.Ordinal); // Gateway, Information
    }

    /// <summary>The default endpoints on free ports (echo on a known one), an API key so a request can be refused.</summary>
    private static (Dictionary<string, string> Environment, int HttpPort, int EchoPort) Environment()
    {
        var environment = GatewayProcessEnvironment.OnFreePorts(out var httpPort);
        var echoPort = FreePort.Next();
        environment["Gateway__Endpoints__echo__Port"] = echoPort.ToString();
        environment["Gateway__Security__ApiKeys__0__Identity"] = "ops";
        environment["Gateway__Security__ApiKeys__0__Sha256"] = new string('0', 64);
        return (environment, httpPort, echoPort);
    }

    private static async Task ConnectAndCloseAsync(int port)
    {
        await using var client = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        client.ShutdownSend();
        await client.WaitForCloseAsync(s_timeout);
    }
}
