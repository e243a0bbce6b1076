using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Configuration;

/// <summary>
/// A listener whose address another process holds stops the start with one line per setting in conflict, naming
/// the setting, the port, the address and the protocol, and nothing else is logged as an error before it.
/// </summary>
public sealed class PortConflictTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    private static TcpListener Squat()
    {
        var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        return squatter;
    }

    private static int PortOf(TcpListener listener) => ((IPEndPoint)listener.LocalEndpoint).Port;

    private static string[] Endpoint(string name, int port) =>
        [$"Gateway:Endpoints:{name}:Port={port}", $"Gateway:Endpoints:{name}:Framing:Kind=Line", $"Gateway:Endpoints:{name}:Publish=chat"];

    [Theory]
    [InlineData(TransportKind.Epoll)]
    [InlineData(TransportKind.Sockets)]
    public async Task Two_ports_in_use_give_one_line_each_and_no_url(TransportKind transport)
    {
        using var first = Squat();
        using var second = Squat();
        var logs = new CapturedLogs();

        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(logs,
            [$"Gateway:Transport:Kind={transport}", .. Endpoint("echo", PortOf(first)), .. Endpoint("chat", PortOf(second))]));

        var lines = failure.Message.Split(Environment.NewLine).Select(line => line.Trim()).ToList();
        Assert.Equal("Addresses already in use:", lines[0]);
        string[] expected =
        [
            $"Gateway:Endpoints:chat:Port ({PortOf(second)}) is already in use on 127.0.0.1 (TCP)",
            $"Gateway:Endpoints:echo:Port ({PortOf(first)}) is already in use on 127.0.0.1 (TCP)",
        ];
        Assert.Equal(expected, lines.Skip(1).Order(StringComparer.Ordinal));
        Assert.DoesNotContain("://", failure.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(logs.Lines, line => line.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task Http_port_in_use_is_named_by_its_setting()
    {
        using var squatter = Squat();

        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync($"Gateway:Http:Port={PortOf(squatter)}"));

        Assert.Contains($"Gateway:Http:Port ({PortOf(squatter)}) is already in use on 127.0.0.1 (TCP)", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unix_socket_another_process_serves_is_named_by_its_setting()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gw-{Guid.NewGuid():N}.sock");
        using var squatter = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        squatter.Bind(new UnixDomainSocketEndPoint(path));
        squatter.Listen();
        try
        {
            var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(
                $"Gateway:Endpoints:chat:UnixSocketPath={path}", "Gateway:Endpoints:chat:Framing:Kind=Line"));

            Assert.Contains($"Gateway:Endpoints:chat:UnixSocketPath ({path}) is already in use", failure.Message, StringComparison.Ordinal);
            Assert.Contains("(Unix socket)", failure.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_port_that_is_free_again_gives_no_line()
    {
        int port;
        using (var squatter = Squat()) port = PortOf(squatter);
        var options = new GatewayOptions { Http = { Port = port } };

        Assert.Empty(PortConflicts.Find(options));
        Assert.StartsWith("An address the gateway listens on was already in use, but each is free now", PortConflicts.Describe(options), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gateway_process_prints_the_line_with_no_stack_trace_before_it()
    {
        using var squatter = Squat();
        var environment = GatewayProcessEnvironment.OnFreePorts(out _);
        environment["Gateway__Endpoints__echo__Port"] = PortOf(squatter).ToString();
        await using var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll], environment);

        Assert.Equal(2, await gateway.WaitForExitAsync(s_timeout));
        Assert.Equal(
            $"Gateway failed to start. Addresses already in use:{Environment.NewLine}  Gateway:Endpoints:echo:Port ({PortOf(squatter)}) is already in use on 127.0.0.1 (TCP)",
            gateway.StandardError.Trim());
        Assert.DoesNotContain(" ERR ", gateway.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", gateway.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotMatch(@"(?m)^\s+at ", gateway.StandardOutput);
    }
}
