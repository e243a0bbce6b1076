using System.Text;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Quickstart;

/// <summary>The README's quickstart, run with the same standard tools (nc, socat, node) against the shipped configuration.</summary>
public sealed class ReadmeQuickstartTests : IAsyncLifetime
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);
    private readonly string _socketPath = Path.Combine(Path.GetTempPath(), $"gw-{Guid.NewGuid():N}.sock");
    private TestGateway _gateway = null!;

    public async Task InitializeAsync() =>
        _gateway = await TestGateway.StartWithContentRootAsync(RepositoryPaths.Root,
            "Gateway:Endpoints:echo:Port=0",
            "Gateway:Endpoints:stick:Port=0",
            "Gateway:Endpoints:chat:Port=0",
            "Gateway:Endpoints:console:Port=0",
            "Gateway:Endpoints:udp:Port=0",
            "Gateway:Endpoints:chat_unix:UnixSocketPath=" + _socketPath);

    public async Task DisposeAsync() => await _gateway.DisposeAsync();

    private async Task<string> ShellAsync(string script)
    {
        await using var shell = ProcessRunner.Start("bash", ["-c", script]);
        var exitCode = await shell.WaitForExitAsync(s_timeout);
        Assert.True(exitCode == 0, $"exit {exitCode}: {shell.StandardError}");
        return shell.StandardOutput;
    }

    /// <summary>The README's line that starts with <paramref name="start"/>, as written there.</summary>
    private static string ReadmeLine(string start) =>
        Assert.Single(File.ReadAllLines(Path.Combine(RepositoryPaths.Root, "README.md")), line => line.StartsWith(start, StringComparison.Ordinal));

    [Fact]
    public async Task Readme_logging_override_with_a_dotted_category_runs_in_bash_and_silences_it()
    {
        const string run = "dotnet run --project src/Gateway -c Release";
        var line = ReadmeLine("env 'Serilog__MinimumLevel__Override__Gateway.Tcp=Warning'");
        Assert.Contains(run, line, StringComparison.Ordinal);
        // The built gateway stands for `dotnet run`, which would build it again.
        var script = "exec " + line[..line.IndexOf('#')].Replace(run, $"dotnet '{RepositoryPaths.GatewayDll}'", StringComparison.Ordinal);

        await using var gateway = ProcessRunner.Start("bash", ["-c", script], GatewayProcessEnvironment.OnFreePorts(out _));
        await gateway.WaitForOutputAsync(output => output.Contains("Endpoint udp listening", StringComparison.Ordinal), s_timeout);

        // A TCP peer and a UDP peer each open a connection: each protocol logs its connections under its own category.
        using (var tcp = new System.Net.Sockets.TcpClient())
            await tcp.ConnectAsync(ListeningOn(gateway.StandardOutput, "echo"));
        using (var udp = new Udp.UdpTestClient(ListeningOn(gateway.StandardOutput, "udp")))
            await udp.SendAsync("hello");
        await gateway.WaitForOutputAsync(output => output.Contains(" INF Gateway.Udp Connection ", StringComparison.Ordinal), s_timeout);
        await Task.Delay(500);

        // The override silences Gateway.Tcp's Information lines, the TCP peer's open and close among them.
        Assert.DoesNotContain(" Gateway.Tcp ", gateway.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("", gateway.StandardError);
    }

    /// <summary>Where the start-up line of <paramref name="endpoint"/> says it listens.</summary>
    private static System.Net.IPEndPoint ListeningOn(string output, string endpoint)
    {
        var match = System.Text.RegularExpressions.Regex.Match(output, $@"Endpoint {endpoint} listening on (\S+) ");
        Assert.True(match.Success, $"no start-up line for {endpoint}");
        return System.Net.IPEndPoint.Parse(match.Groups[1].Value);
    }

    [Fact]
    public async Task Nc_gets_a_length_prefixed_frame_echoed_and_the_connection_closed_after_its_FIN()
    {
        var port = _gateway.EndPointOf("echo").Port;

        var hex = await ShellAsync($"printf '\\0\\0\\0\\5hello' | nc -N 127.0.0.1 {port} | od -An -tx1");

        Assert.Equal("00 00 00 05 68 65 6c 6c 6f", hex.Trim());
    }

    [Fact]
    public async Task Node_one_liner_echo_prints_the_body()
    {
        var port = _gateway.EndPointOf("echo").Port;

        var output = await ShellAsync(
            $"node -e \"const s=require('net').connect({port},'127.0.0.1',()=>{{const b=Buffer.from('hi from node'),h=Buffer.alloc(4);h.writeUInt32BE(b.length);s.end(Buffer.concat([h,b]))}});s.on('data',d=>console.log(d.subarray(4).toString()))\"");

        Assert.Equal("hi from node", output.Trim());
    }

    [Fact]
    public async Task Nc_u_gets_its_datagram_echoed_by_the_udp_endpoint()
    {
        var port = _gateway.UdpEndPointOf("udp").Port;

        var echoed = await ShellAsync($"printf 'hello over udp' | nc -u -w1 127.0.0.1 {port}");

        Assert.Equal("hello over udp", echoed.Trim());
    }

    [Fact]
    public async Task Node_dgram_one_liner_prints_the_echo()
    {
        var port = _gateway.UdpEndPointOf("udp").Port;

        var output = await ShellAsync(
            $"node -e \"const s=require('dgram').createSocket('udp4');s.on('message',m=>{{console.log(m.toString());s.close()}});s.send('hi from node',{port},'127.0.0.1')\"");

        Assert.Equal("hi from node", output.Trim());
    }

    [Fact]
    public async Task Socat_on_the_unix_socket_chats_with_nc_on_tcp()
    {
        await using var tcpChat = await FramedClient.ConnectAsync(_gateway.EndPointOf("chat"));
        await _gateway.WaitForConnectionsAsync(1);

        var echoed = await ShellAsync($"printf 'hello via socat\\n' | socat -t2 - UNIX-CONNECT:{_socketPath}");

        Assert.Equal("hello via socat", echoed.Trim());
        Assert.Equal("hello via socat", await tcpChat.ReadLineAsync());
    }

    [Fact]
    public async Task Stick_device_uplink_shows_on_the_console_and_console_lines_reach_the_device()
    {
        await using var console = await FramedClient.ConnectAsync(_gateway.EndPointOf("console"));
        await _gateway.WaitForConnectionsAsync(1);
        var stickPort = _gateway.EndPointOf("stick").Port;

        // A device sends one stick frame (2-byte big-endian length) and waits for what comes down.
        await using var device = ProcessRunner.Start("bash", ["-c",
            $"(printf '\\0\\x0atemp=21.5C'; sleep 3) | nc -N 127.0.0.1 {stickPort} | od -An -c"]);

        Assert.Equal("temp=21.5C", await console.ReadLineAsync(s_timeout));
        await console.SendAsync(Encoding.ASCII.GetBytes("led on\n"));

        await device.WaitForExitAsync(s_timeout);
        Assert.Contains("\\0 006   l   e   d       o   n", device.StandardOutput, StringComparison.Ordinal);
    }
}
