using System.Net;
using System.Text;
using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Udp;

/// <summary>Each datagram comes back to its sender, as in Node's dgram echo: the reply goes to the address the message came from.</summary>
public abstract class UdpEchoTests(TransportKind transport)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    private static string[] EchoEndpoint(params string[] overrides) =>
    [
        "Gateway:Endpoints:udp:Protocol=Udp",
        "Gateway:Endpoints:udp:Port=0",
        "Gateway:Endpoints:udp:Publish=udp/{remote}",
        "Gateway:Endpoints:udp:Subscribe:0=udp/{remote}",
        .. overrides,
    ];

    [Fact]
    public async Task Datagram_comes_back_to_its_sender_and_only_to_it()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoEndpoint());
        var server = gateway.UdpEndPointOf("udp");
        using var first = new UdpTestClient(server);
        using var second = new UdpTestClient(server);

        await first.SendAsync("hello from first");
        await second.SendAsync("hello from second");

        var reply = await first.ReceiveAsync();
        Assert.Equal("hello from first", Encoding.UTF8.GetString(reply.Buffer));
        Assert.Equal(server, reply.RemoteEndPoint);
        Assert.Equal("hello from second", await second.ReceiveTextAsync());
        Assert.True(await first.ReceivesNothingWithinAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task A_burst_from_many_senders_comes_back_whole_each_to_its_own_sender()
    {
        // Sent all at once, so the receive side takes many per system call and sends the replies together.
        // Small and few enough (80 datagrams, under 100 bytes) to fit the gateway socket's default receive buffer.
        await using var gateway = await TestGateway.StartAsync(transport, EchoEndpoint());
        var server = gateway.UdpEndPointOf("udp");
        var clients = Enumerable.Range(0, 8).Select(_ => new UdpTestClient(server)).ToArray();
        try
        {
            for (var n = 0; n < 10; n++)
            {
                for (var c = 0; c < clients.Length; c++)
                    await clients[c].SendAsync($"client {c} datagram {n} " + new string('x', n * 5));
            }

            for (var c = 0; c < clients.Length; c++)
            {
                var received = new List<string>();
                for (var n = 0; n < 10; n++)
                    received.Add(await clients[c].ReceiveTextAsync());
                Assert.Equal(Enumerable.Range(0, 10).Select(n => $"client {c} datagram {n} " + new string('x', n * 5)), received);
            }
        }
        finally
        {
            foreach (var client in clients)
                client.Dispose();
        }
    }

    [Fact]
    public async Task Datagram_is_published_on_the_senders_topic_with_its_peer_id_and_address()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoEndpoint("Gateway:Endpoints:udp:Publish=in/{endpoint}/{remote}/{connectionId}"));
        var recorder = new MessageRecorder();
        using var subscription = gateway.Services.GetRequiredService<IMessageBus>().Subscribe(TopicFilter.Parse("in/#"), recorder);
        using var client = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await client.SendAsync([1, 2, 3]);

        var message = await recorder.WaitForAsync(_ => true);
        Assert.StartsWith("udp-", message.ConnectionId, StringComparison.Ordinal);
        Assert.Equal($"in/udp/{client.Remote}/{message.ConnectionId}", message.Topic);
        Assert.Equal(client.Remote, message.RemoteAddress);
        Assert.Equal("udp", message.SourceEndpoint);
        Assert.Equal(new byte[] { 1, 2, 3 }, message.Payload.ToArray());
    }

    [Fact]
    public async Task Empty_datagram_is_echoed_as_an_empty_datagram()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoEndpoint());
        using var client = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await client.SendAsync([]);

        Assert.Empty((await client.ReceiveAsync()).Buffer);
    }

    [Fact]
    public async Task Echo_works_over_IPv6()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoEndpoint("Gateway:Endpoints:udp:Address=::1"));
        var server = gateway.UdpEndPointOf("udp");
        using var client = new UdpTestClient(server);

        await client.SendAsync("over ipv6");

        Assert.Equal(IPAddress.IPv6Loopback, server.Address);
        Assert.Equal("over ipv6", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task Any_address_serves_IPv4_and_IPv6_senders_and_shows_IPv4_senders_as_IPv4()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoEndpoint("Gateway:Endpoints:udp:Address=*"));
        var port = gateway.UdpEndPointOf("udp").Port;
        using var v4 = new UdpTestClient(new IPEndPoint(IPAddress.Loopback, port));
        using var v6 = new UdpTestClient(new IPEndPoint(IPAddress.IPv6Loopback, port));

        await v4.SendAsync("from ipv4");
        await v6.SendAsync("from ipv6");

        Assert.Equal("from ipv4", await v4.ReceiveTextAsync());
        Assert.Equal("from ipv6", await v6.ReceiveTextAsync());
        var remotes = gateway.Services.GetRequiredService<Gateway.Connections.ConnectionRegistry>().All
            .Where(connection => connection.Protocol == "udp").Select(connection => connection.RemoteAddress).ToList();
        Assert.Contains(v4.Remote, remotes);
        Assert.Contains(v6.Remote, remotes);
    }

    [Fact]
    public async Task Seed_dgram_client_gets_its_message_echoed_from_the_gateways_port()
    {
        await using var gateway = await TestGateway.StartAsync(transport, EchoEndpoint());
        var port = gateway.UdpEndPointOf("udp").Port;

        await using var node = ProcessRunner.Start("node", ["udp-client.js", port.ToString()], workingDirectory: RepositoryPaths.SeedsInterop);

        Assert.Equal(0, await node.WaitForExitAsync(s_timeout));
        Assert.Contains($"client got: 学习Node.js网络编程 from 127.0.0.1:{port}", node.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("client closed", node.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Shipped_udp_endpoint_echoes_each_datagram_to_its_sender()
    {
        var socketPath = Path.Combine(Path.GetTempPath(), $"gw-{Guid.NewGuid():N}.sock");
        await using var gateway = await TestGateway.StartWithContentRootAsync(RepositoryPaths.Root,
            "Gateway:Endpoints:echo:Port=0",
            "Gateway:Endpoints:stick:Port=0",
            "Gateway:Endpoints:chat:Port=0",
            "Gateway:Endpoints:console:Port=0",
            "Gateway:Endpoints:udp:Port=0",
            "Gateway:Endpoints:chat_unix:UnixSocketPath=" + socketPath);
        using var client = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await client.SendAsync("ping");

        Assert.Equal("ping", await client.ReceiveTextAsync());
    }

    [Fact]
    public async Task Endpoint_logs_listening_and_closed_with_its_counters()
    {
        var gateway = await TestGateway.StartAsync(transport, EchoEndpoint());
        var logs = gateway.Logs;
        var bound = gateway.UdpEndPointOf("udp").ToString();
        using (var client = new UdpTestClient(gateway.UdpEndPointOf("udp")))
        {
            await client.SendAsync("once");
            Assert.Equal("once", await client.ReceiveTextAsync());
        }

        await gateway.DisposeAsync();

        Assert.Contains(logs.Lines, line => line.EventId.Name == "EndpointListening" && line.Message.Contains(bound, StringComparison.Ordinal));
        Assert.Contains(logs.Lines, line => line.EventId.Name == "ConnectionClosed" && line.Message.Contains("server shutting down", StringComparison.Ordinal));
        var closed = Assert.Single(logs.Lines, line => line.EventId.Name == "UdpEndpointClosed");
        Assert.Contains("in 1 datagrams 4 bytes, out 1 datagrams 4 bytes", closed.Message, StringComparison.Ordinal);
    }
}

public sealed class UdpEchoTestsOnEpoll() : UdpEchoTests(TransportKind.Epoll);

public sealed class UdpEchoTestsOnSockets() : UdpEchoTests(TransportKind.Sockets);
