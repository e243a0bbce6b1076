using System.Net;
using System.Net.Sockets;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests;

/// <summary><c>Gateway --help</c> and <c>--version</c> answer and exit without starting; other arguments stay settings.</summary>
public sealed class CommandLineTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    public async Task Help_says_how_settings_are_given_and_exits_0_without_binding_a_port(string flag)
    {
        // The HTTP port is taken: a gateway that tried to start would fail with exit code 2.
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var environment = GatewayProcessEnvironment.OnFreePorts(out _);
        environment["Gateway__Http__Port"] = ((IPEndPoint)squatter.LocalEndpoint).Port.ToString();
        await using var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll, flag], environment);

        Assert.Equal(0, await gateway.WaitForExitAsync(s_timeout));
        var help = gateway.StandardOutput;
        Assert.Contains("multi-protocol message gateway", help, StringComparison.Ordinal);
        Assert.Contains("appsettings.json next to the binary", help, StringComparison.Ordinal);
        Assert.Contains("Gateway__Endpoints__echo__Port=9100", help, StringComparison.Ordinal);
        Assert.Contains("--Gateway:Http:Port=8081", help, StringComparison.Ordinal);
        Assert.Contains("Gateway probe", help, StringComparison.Ordinal);
        Assert.Contains("README.md", help, StringComparison.Ordinal);
        Assert.DoesNotContain(" INF ", help, StringComparison.Ordinal);
        Assert.Equal("", gateway.StandardError);
    }

    [Fact]
    public async Task Version_prints_the_informational_version_and_exits_0()
    {
        await using var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll, "--version"], GatewayProcessEnvironment.OnFreePorts(out _));

        Assert.Equal(0, await gateway.WaitForExitAsync(s_timeout));
        Assert.Equal(GatewayCommandLine.Version, gateway.StandardOutput.Trim());
        Assert.StartsWith("1.0.0", GatewayCommandLine.Version, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_option_without_a_value_is_reported_and_the_settings_after_it_still_apply()
    {
        var environment = GatewayProcessEnvironment.OnFreePorts(out _);
        await using var gateway = ProcessRunner.Start("dotnet",
            [RepositoryPaths.GatewayDll, "--verbose", "--Gateway:Endpoints:echo:Framing:MaxFrameSize=-1"], environment);

        Assert.Equal(2, await gateway.WaitForExitAsync(s_timeout));
        Assert.Contains("Ignoring --verbose: it has no value", gateway.StandardError, StringComparison.Ordinal);
        Assert.Contains("Gateway:Endpoints:echo:Framing:MaxFrameSize must be greater than 0", gateway.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_keep_both_forms_and_only_options_without_a_value_are_dropped()
    {
        using var warnings = new StringWriter();

        var kept = GatewayCommandLine.ConfigurationArguments(
            ["--Gateway:Http:Port=0", "--Gateway:Endpoints:echo:Framing:LengthAdjustment", "-4", "--dry-run", "--Gateway:LogFormat", "Json", "--quiet"], warnings);

        Assert.Equal(["--Gateway:Http:Port=0", "--Gateway:Endpoints:echo:Framing:LengthAdjustment", "-4", "--Gateway:LogFormat", "Json"], kept);
        Assert.Contains("--dry-run", warnings.ToString(), StringComparison.Ordinal);
        Assert.Contains("--quiet", warnings.ToString(), StringComparison.Ordinal);
    }
}
