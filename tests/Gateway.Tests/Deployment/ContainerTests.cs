using System.Text.Json;
using System.Text.RegularExpressions;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Deployment;

/// <summary>
/// There is no container engine here, so the image is checked piece by piece: the Dockerfile's publish, run with the
/// Dockerfile's own environment variables, answers its HEALTHCHECK command and logs JSON.
/// </summary>
public sealed class ContainerTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif

    [Fact]
    public async Task The_published_gateway_with_the_Dockerfiles_environment_passes_its_HEALTHCHECK_and_logs_json()
    {
        var dockerfile = await File.ReadAllTextAsync(Path.Combine(RepositoryPaths.Root, "Dockerfile"));
        var healthcheck = Regex.Match(dockerfile, @"^HEALTHCHECK .*CMD \[""dotnet"", ""Gateway.dll"", ""(\w+)""\]$", RegexOptions.Multiline);
        Assert.True(healthcheck.Success, "the Dockerfile's HEALTHCHECK runs the gateway's probe");

        // The Dockerfile's publish; the build it would do has just been done by the test run.
        var published = Directory.CreateTempSubdirectory("gateway-published-").FullName;
        await using (var publish = ProcessRunner.Start("dotnet",
            ["publish", Path.Combine(RepositoryPaths.Root, "src", "Gateway", "Gateway.csproj"), "-c", Configuration, "--no-build", "-o", published]))
            Assert.Equal(0, await publish.WaitForExitAsync(s_timeout));

        var environment = DockerfileEnvironment(dockerfile);
        // Free ports instead of the image's fixed ones, which other tests on this machine may be using.
        foreach (var (name, value) in GatewayProcessEnvironment.OnFreePorts(out _))
            environment[name] = value;
        var dll = Path.Combine(published, "Gateway.dll");
        await using var gateway = ProcessRunner.Start("dotnet", [dll], environment);

        var exit = -1;
        var deadline = DateTime.UtcNow + s_timeout;
        ProcessRunner? probe = null;
        while (exit != 0 && DateTime.UtcNow < deadline)
        {
            if (probe is not null) await probe.DisposeAsync();
            probe = ProcessRunner.Start("dotnet", [dll, healthcheck.Groups[1].Value], environment);
            exit = await probe.WaitForExitAsync(s_timeout);
            if (exit != 0) await Task.Delay(500);
        }

        Assert.Equal(0, exit);
        Assert.StartsWith("200 ", probe!.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("Healthy", JsonDocument.Parse(probe.StandardOutput[4..]).RootElement.GetProperty("status").GetString());
        await probe.DisposeAsync();
        var lines = gateway.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.NotEmpty(lines);
        Assert.All(lines, line => Assert.True(JsonDocument.Parse(line).RootElement.TryGetProperty("Level", out _), line));
    }

    [Fact]
    public async Task The_probe_exits_1_when_no_gateway_answers()
    {
        var environment = GatewayProcessEnvironment.OnFreePorts(out _);
        await using var probe = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll, "probe"], environment);

        Assert.Equal(1, await probe.WaitForExitAsync(s_timeout));
        Assert.Contains("not reachable", probe.StandardError, StringComparison.Ordinal);
    }

    /// <summary>The variables of the Dockerfile's ENV instructions, continuation lines included.</summary>
    private static Dictionary<string, string> DockerfileEnvironment(string dockerfile)
    {
        var environment = new Dictionary<string, string>();
        foreach (Match instruction in Regex.Matches(dockerfile, @"^ENV ((?:.*\\\r?\n)*.*)$", RegexOptions.Multiline))
        {
            foreach (Match pair in Regex.Matches(instruction.Groups[1].Value, @"(\w+)=(""[^""]*""|\S+)"))
                environment[pair.Groups[1].Value] = pair.Groups[2].Value.Trim('"');
        }

        return environment;
    }
}
