using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.Configuration;

namespace Gateway.Tests.Udp;

/// <summary>UDP settings are checked at start like every other: a wrong one stops the start with a message naming it.</summary>
public sealed class UdpConfigurationTests
{
    private static string[] ValidUdp(params string[] overrides) =>
    [
        "Gateway:Endpoints:udp:Protocol=Udp",
        "Gateway:Endpoints:udp:Port=0",
        "Gateway:Endpoints:udp:Publish=udp/{remote}",
        "Gateway:Endpoints:udp:Subscribe:0=udp/{remote}",
        .. overrides,
    ];

    [Theory]
    [InlineData("Gateway:Endpoints:udp:Udp:MaxDatagramSize=0", "Gateway:Endpoints:udp:Udp:MaxDatagramSize must be between 1 and 65507")]
    [InlineData("Gateway:Endpoints:udp:Udp:MaxDatagramSize=65508", "Gateway:Endpoints:udp:Udp:MaxDatagramSize must be between 1 and 65507")]
    [InlineData("Gateway:Endpoints:udp:Udp:PeerIdleTimeout=00:00:00", "Gateway:Endpoints:udp:Udp:PeerIdleTimeout")]
    [InlineData("Gateway:Endpoints:udp:Udp:MaxPeers=0", "Gateway:Endpoints:udp:Udp:MaxPeers")]
    [InlineData("Gateway:Endpoints:udp:Udp:ReceiveBufferSize=100", "Gateway:Endpoints:udp:Udp:ReceiveBufferSize must be at least 1024")]
    [InlineData("Gateway:Endpoints:udp:Udp:SendBufferSize=0", "Gateway:Endpoints:udp:Udp:SendBufferSize must be at least 1024")]
    [InlineData("Gateway:Endpoints:udp:Limits:MessagesPerSecond=0", "Gateway:Endpoints:udp:Limits:MessagesPerSecond must be positive")]
    [InlineData("Gateway:Endpoints:udp:Limits:OnBreach=Pause", "Gateway:Endpoints:udp:Limits:OnBreach cannot be Pause here")]
    [InlineData("Gateway:Endpoints:udp:Udp:RateLimitPerSecond=5", "Gateway:Endpoints:udp:Udp:RateLimitPerSecond moved to the endpoint's Limits")]
    [InlineData("Gateway:Endpoints:udp:Udp:RateLimitBurst=5", "Gateway:Endpoints:udp:Udp:RateLimitBurst moved to the endpoint's Limits")]
    [InlineData("Gateway:Endpoints:udp:Udp:MaxDatagram=1", "MaxDatagram")]
    [InlineData("Gateway:Endpoints:udp:UnixSocketPath=/tmp/udp.sock", "Gateway:Endpoints:udp:UnixSocketPath")]
    [InlineData("Gateway:Endpoints:udp:Port=70000", "Gateway:Endpoints:udp:Port")]
    [InlineData("Gateway:Endpoints:udp:Address=nowhere", "Gateway:Endpoints:udp:Address")]
    [InlineData("Gateway:Endpoints:udp:Subscribe:0=a/#/b", "Gateway:Endpoints:udp:Subscribe:0")]
    [InlineData("Gateway:Endpoints:udp:Protocol=Sctp", "Gateway:Endpoints:udp")]
    public async Task Invalid_udp_setting_stops_the_start_and_names_the_setting(string setting, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidUdp(setting)));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Udp_endpoint_without_a_port_stops_the_start()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(
            "Gateway:Endpoints:udp:Protocol=Udp",
            "Gateway:Endpoints:udp:Publish=udp/{remote}"));

        Assert.Contains("Gateway:Endpoints:udp:Port is required", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Udp_target_setting_stops_the_start_and_points_to_udp_routes()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidUdp("Gateway:Endpoints:udp:Udp:Target=127.0.0.1:9")));

        Assert.Contains("Gateway:Endpoints:udp:Udp:Target was replaced by routes: add Gateway:Routes:{name} with To:Kind Udp", failure.Message,
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task Udp_port_held_by_another_socket_stops_the_start_naming_the_port()
    {
        using var holder = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)holder.Client.LocalEndPoint!).Port;

        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(ValidUdp($"Gateway:Endpoints:udp:Port={port}")));

        Assert.Contains($"Gateway:Endpoints:udp:Port ({port}) is already in use", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Socket_buffer_sizes_reach_the_kernel()
    {
        await using var gateway = await TestGateway.StartAsync(ValidUdp(
            "Gateway:Endpoints:udp:Udp:ReceiveBufferSize=100000", "Gateway:Endpoints:udp:Udp:SendBufferSize=60000"));
        var port = gateway.UdpEndPointOf("udp").Port;

        // ss shows the socket's memory limits; Linux doubles a requested size to count its own overhead.
        await using var ss = ProcessRunner.Start("ss", ["-H", "-u", "-a", "-m", "-n", $"sport = :{port}"]);
        Assert.Equal(0, await ss.WaitForExitAsync(TimeSpan.FromSeconds(10)));
        Assert.Contains("rb200000", ss.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("tb120000", ss.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Udp_endpoint_may_share_its_port_number_with_a_tcp_endpoint()
    {
        var port = FreeTcpAndUdpPort();

        await using var gateway = await TestGateway.StartAsync(ValidUdp(
            $"Gateway:Endpoints:udp:Port={port}",
            $"Gateway:Endpoints:echo:Port={port}",
            "Gateway:Endpoints:echo:Publish=echo/{connectionId}",
            "Gateway:Endpoints:echo:Subscribe:0=echo/{connectionId}"));
        using var client = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        await client.SendAsync("same number, other protocol");

        Assert.Equal(port, gateway.EndPointOf("echo").Port);
        Assert.Equal("same number, other protocol", await client.ReceiveTextAsync());
    }

    [Fact]
    public void Two_udp_endpoints_on_one_port_are_refused_but_udp_and_tcp_on_one_port_are_not()
    {
        var options = new GatewayOptions();
        options.Endpoints["tcp"] = new EndpointOptions { Port = 9100 };
        options.Endpoints["udp1"] = new EndpointOptions { Protocol = EndpointProtocol.Udp, Port = 9100 };
        var validator = new GatewayOptionsValidator(new ConfigurationBuilder().Build());
        Assert.True(validator.Validate(null, options).Succeeded);

        options.Endpoints["udp2"] = new EndpointOptions { Protocol = EndpointProtocol.Udp, Port = 9100 };
        var result = validator.Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains("Gateway:Endpoints:udp2:Port 9100 is also used by Gateway:Endpoints:udp1", result.FailureMessage, StringComparison.Ordinal);
    }

    private static int FreeTcpAndUdpPort()
    {
        for (var attempt = 0; attempt < 20; attempt++)
        {
            using var tcp = new TcpListener(IPAddress.Loopback, 0);
            tcp.Start();
            var port = ((IPEndPoint)tcp.LocalEndpoint).Port;
            try
            {
                using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("No port free for both TCP and UDP.");
    }
}
