using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Configuration;

/// <summary>A wrong setting stops the start with a message naming it.</summary>
public sealed class StartupValidationTests
{
    private static string[] ValidEcho(params string[] overrides) =>
    [
        "Gateway:Endpoints:echo:Port=0",
        "Gateway:Endpoints:echo:Publish=echo/{connectionId}",
        "Gateway:Endpoints:echo:Subscribe:0=echo/{connectionId}",
        .. overrides,
    ];

    [Theory]
    [InlineData("Gateway:Endpoints:echo:Framing:MaxFrameSize=-5", "Gateway:Endpoints:echo:Framing:MaxFrameSize")]
    [InlineData("Gateway:Endpoints:echo:Framing:LengthFieldSize=3", "Gateway:Endpoints:echo:Framing:LengthFieldSize")]
    [InlineData("Gateway:Endpoints:echo:Publish=echo/#", "Gateway:Endpoints:echo:Publish")]
    [InlineData("Gateway:Endpoints:echo:Publish=echo/{nosuch}", "Gateway:Endpoints:echo:Publish")]
    [InlineData("Gateway:Endpoints:echo:Subscribe:0=a/#/b", "Gateway:Endpoints:echo:Subscribe:0")]
    [InlineData("Gateway:Endpoints:echo:Port=70000", "Gateway:Endpoints:echo:Port")]
    [InlineData("Gateway:Endpoints:echo:MaxConnections=0", "Gateway:Endpoints:echo:MaxConnections")]
    [InlineData("Gateway:Endpoints:echo:Outbox:Capacity=-1", "Gateway:Endpoints:echo:Outbox:Capacity")]
    [InlineData("Gateway:Endpoints:echo:IdleTimeout=-00:00:01", "Gateway:Endpoints:echo:IdleTimeout")]
    [InlineData("Gateway:Endpoints:echo:Limits:MessagesPerSecond=0", "Gateway:Endpoints:echo:Limits:MessagesPerSecond must be positive")]
    [InlineData("Gateway:Endpoints:echo:Limits:ByteBurst=100", "Gateway:Endpoints:echo:Limits:ByteBurst needs Gateway:Endpoints:echo:Limits:BytesPerSecond")]
    [InlineData("Gateway:Endpoints:echo:Limits:MaxConnectionsPerAddress=-1", "Gateway:Endpoints:echo:Limits:MaxConnectionsPerAddress must be positive")]
    [InlineData("Gateway:Endpoints:echo:Limits:OnBreach=Slow", "Gateway:Endpoints:echo:Limits:OnBreach")]
    [InlineData("Gateway:Endpoints:echo:UnixSocketPath=/tmp/both.sock", "Gateway:Endpoints:echo must set exactly one of Port and UnixSocketPath")]
    [InlineData("Gateway:Endpoints:echo:Address=not-an-address", "Gateway:Endpoints:echo:Address")]
    [InlineData("Gateway:Endpoints:echo:Address=localhost", "Gateway:Endpoints:echo:Port 0 (a free port) cannot be used with the address 'localhost'")]
    [InlineData("Logging:LogLevel:Gateway.Tcp=Loud", "Logging:LogLevel:Gateway.Tcp 'Loud' is not one of: Trace, Debug, Information, Warning, Error, Critical, None")]
    [InlineData("Gateway:DefaultAddress=localhost", "Gateway:Http:Port 0 (a free port) cannot be used with the address 'localhost'")]
    [InlineData("Gateway:Endpoints:echo:Framing:Kind=Carrier-Pigeon", "Gateway:Endpoints:echo:Framing:Kind")]
    [InlineData("Gateway:Endpoints:echo:Publsh=typo", "Publsh")]
    [InlineData("Gateway:Htp:Port=1", "Htp")]
    [InlineData("Gateway:Transport:EpollLoops=0", "Gateway:Transport:EpollLoops")]
    [InlineData("Gateway:Transport:Kind=Iocp", "Gateway:Transport:Kind")]
    [InlineData("Gateway:Http:MaxPublishBytes=0", "Gateway:Http:MaxPublishBytes")]
    [InlineData("Gateway:Http:Sse:HistoryPerTopic=-1", "Gateway:Http:Sse:HistoryPerTopic")]
    [InlineData("Gateway:Http:WebSocket:MaxMessageBytes=-1", "Gateway:Http:WebSocket:MaxMessageBytes")]
    [InlineData("Gateway:Http:WebSocket:AllowedOrigins:0=https://app.example.com/path", "Gateway:Http:WebSocket:AllowedOrigins")]
    [InlineData("Gateway:Http:WebSocket:LingerTimeout=-00:00:01", "Gateway:Http:WebSocket:LingerTimeout must not be negative")]
    public async Task Invalid_setting_stops_the_start_and_names_the_setting(string setting, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidEcho(setting)));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_invalid_setting_is_reported_at_once()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidEcho(
            "Gateway:Endpoints:echo:Framing:MaxFrameSize=0",
            "Gateway:Endpoints:echo:MaxConnections=-1")));

        Assert.Contains("Framing:MaxFrameSize", failure.Message, StringComparison.Ordinal);
        Assert.Contains("MaxConnections", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_keys_and_values_are_reported_with_the_validators_errors_one_line_each()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidEcho(
            "Gateway:Endpoints:echo:Framing:Kind=Lenght",
            "Gateway:Endpoints:echo:Prot=9001",
            "Gateway:Htp:Port=1",
            "Gateway:Endpoints:echo:Enabled=yes",
            "Gateway:Endpoints:echo:MaxConnections=0")));

        var lines = failure.Message.Split(Environment.NewLine).Select(line => line.Trim()).ToList();
        Assert.Equal("Invalid configuration:", lines[0]);
        Assert.Contains("Gateway:Endpoints:echo:Framing:Kind 'Lenght' is not one of: LengthField, Delimiter, Line, FixedLength", lines);
        Assert.Contains("Gateway:Endpoints:echo:Prot is not a setting; did you mean Port?", lines);
        Assert.Contains("Gateway:Htp is not a setting; did you mean Http?", lines);
        Assert.Contains("Gateway:Endpoints:echo:Enabled 'yes' is not true or false", lines);
        Assert.Contains(lines, line => line.StartsWith("Gateway:Endpoints:echo:MaxConnections must be positive", StringComparison.Ordinal));
        Assert.Equal(6, lines.Count);
    }

    [Theory]
    [InlineData("Gateway:Endpoints:echo:Port=abc", "Gateway:Endpoints:echo:Port 'abc' is not a whole number")]
    [InlineData("Gateway:Endpoints:echo:Framing:Kind=Lenght", "Gateway:Endpoints:echo:Framing:Kind 'Lenght'")]
    [InlineData("Gateway:Endpoints:echo:Publsh=typo", "Gateway:Endpoints:echo:Publsh is not a setting")]
    [InlineData("Gateway:Htp:Port=1", "Gateway:Htp is not a setting")]
    [InlineData("Gateway:Https:Port=abc", "Gateway:Https:Port 'abc'")]
    [InlineData("Gateway:Security:Permissions:bob:Admin=yes", "Gateway:Security:Permissions:bob:Admin 'yes' is not true or false")]
    [InlineData("Gateway:Transport:InlineCompletions=maybe", "Gateway:Transport:InlineCompletions 'maybe' is not true or false")]
    public async Task Binder_failures_are_told_without_dotnet_wording_or_type_names(string setting, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidEcho(setting)));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("ErrorOnUnknownConfiguration", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Gateway.Configuration.", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("System.", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("Int32", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gateway_process_exits_non_zero_with_the_setting_on_stderr()
    {
        var environment = GatewayProcessEnvironment.OnFreePorts(out _);
        environment["Gateway__Endpoints__echo__Framing__MaxFrameSize"] = "-1";
        await using var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll], environment);

        var exitCode = await gateway.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(2, exitCode);
        Assert.Contains("Gateway failed to start", gateway.StandardError, StringComparison.Ordinal);
        Assert.Contains("Gateway:Endpoints:echo:Framing:MaxFrameSize", gateway.StandardError, StringComparison.Ordinal);
    }
}
