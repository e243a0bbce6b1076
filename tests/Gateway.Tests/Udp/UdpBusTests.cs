using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Udp;

/// <summary>UDP and TCP share one topic space: datagrams reach line clients, lines reach the UDP peers heard from recently, or a UDP service through a route.</summary>
public abstract class UdpBusTests(TransportKind transport)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    private static string[] UdpAndLines(params string[] overrides) =>
    [
        "Gateway:Endpoints:udp:Protocol=Udp",
        "Gateway:Endpoints:udp:Port=0",
        "Gateway:Endpoints:udp:Publish=udp/{remote}",
        "Gateway:Endpoints:udp:Subscribe:0=down",
        "Gateway:Endpoints:lines:Port=0",
        "Gateway:Endpoints:lines:Framing:Kind=Line",
        "Gateway:Endpoints:lines:Publish=down",
        "Gateway:Endpoints:lines:Subscribe:0=udp/#",
        .. overrides,
    ];

    [Fact]
    public async Task Datagram_reaches_a_tcp_line_client_subscribed_to_its_topic()
    {
        await using var gateway = await TestGateway.StartAsync(transport, UdpAndLines());
        await using var lines = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);
        var recorder = new MessageRecorder();
        using var subscription = gateway.Services.GetRequiredService<IMessageBus>().Subscribe(TopicFilter.Parse("udp/#"), recorder);
        using var device = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await device.SendAsync("temp=21.5C");

        Assert.Equal("temp=21.5C", await lines.ReadLineAsync());
        Assert.Equal($"udp/{device.Remote}", (await recorder.WaitForAsync(_ => true)).Topic);
    }

    [Fact]
    public async Task Tcp_line_reaches_recent_udp_peers_but_not_one_that_went_idle()
    {
        await using var gateway = await TestGateway.StartAsync(transport, UdpAndLines("Gateway:Endpoints:udp:Udp:PeerIdleTimeout=00:00:03"));
        await using var lines = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);
        var registry = gateway.Services.GetRequiredService<ConnectionRegistry>();
        using var idle = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        using var recent = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await idle.SendAsync("idle says hi");
        Assert.Equal("idle says hi", await lines.ReadLineAsync());
        await Eventually.TrueAsync(() => !registry.All.Any(connection => connection.RemoteAddress == idle.Remote),
            "the idle peer is forgotten", s_timeout);
        await recent.SendAsync("recent says hi");
        Assert.Equal("recent says hi", await lines.ReadLineAsync());

        await lines.SendLineAsync("led on");

        Assert.Equal("led on", await recent.ReceiveTextAsync());
        Assert.True(await idle.ReceivesNothingWithinAsync(TimeSpan.FromMilliseconds(500)));
        Assert.Contains(gateway.Logs.Lines, line => line.EventId.Name == "ConnectionClosed"
            && line.Message.Contains(idle.Remote, StringComparison.Ordinal) && line.Message.Contains("idle timeout", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Seed_dgram_server_behind_a_udp_route_receives_what_tcp_clients_publish()
    {
        await using var server = ProcessRunner.Start("node", ["udp-server.js", "2"], workingDirectory: RepositoryPaths.SeedsInterop);
        await server.WaitForOutputAsync(output => output.Contains("server listening", StringComparison.Ordinal), s_timeout);
        var address = server.StandardOutput.Split('\n').First(line => line.StartsWith("server listening ", StringComparison.Ordinal))
            ["server listening ".Length..].Trim();
        await using var gateway = await TestGateway.StartAsync(transport, UdpAndLines(
            "Gateway:Routes:seed:From:0=down", "Gateway:Routes:seed:To:Kind=Udp", $"Gateway:Routes:seed:To:Address={address}"));
        await using var lines = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);

        await lines.SendLineAsync("first");
        await lines.SendLineAsync("second");

        Assert.Equal(0, await server.WaitForExitAsync(s_timeout));
        // The route sends from a socket of its own, not from the endpoint's port.
        Assert.Contains("server got: first from 127.0.0.1:", server.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("server got: second from 127.0.0.1:", server.StandardOutput, StringComparison.Ordinal);
    }
}

public sealed class UdpBusTestsOnEpoll() : UdpBusTests(TransportKind.Epoll);

public sealed class UdpBusTestsOnSockets() : UdpBusTests(TransportKind.Sockets);
