using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Tcp;

/// <summary>Framed TCP and Unix socket endpoints on real Kestrel sockets, once on each transport that can carry them.</summary>
public abstract class FramedEndpointTests(TransportKind transport)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private static string[] Echo(string name = "echo", params string[] extra) =>
    [
        $"Gateway:Endpoints:{name}:Port=0",
        $"Gateway:Endpoints:{name}:Framing:Kind=LengthField",
        $"Gateway:Endpoints:{name}:Framing:LengthFieldSize=4",
        $"Gateway:Endpoints:{name}:Publish=echo/{{connectionId}}",
        $"Gateway:Endpoints:{name}:Subscribe:0=echo/{{connectionId}}",
        .. extra,
    ];

    private static string[] Lines(string name, string publish, string subscribe, params string[] extra) =>
    [
        $"Gateway:Endpoints:{name}:Port=0",
        $"Gateway:Endpoints:{name}:Framing:Kind=Line",
        $"Gateway:Endpoints:{name}:Publish={publish}",
        $"Gateway:Endpoints:{name}:Subscribe:0={subscribe}",
        .. extra,
    ];

    [Fact]
    public async Task Echo_returns_each_frame_to_its_sender_whether_frames_stick_together_or_split()
    {
        await using var gateway = await StartAsync(Echo());
        await using var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        // Sticky: 18 frames in one write, as the seed's client does with 18 quick writes.
        var msg = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        var sticky = Enumerable.Range(0, 18).SelectMany(i => FramedClient.LengthPrefixed(Encoding.ASCII.GetBytes($"{i}:{msg}"))).ToArray();
        await client.SendAsync(sticky);
        for (var i = 0; i < 18; i++)
            Assert.Equal($"{i}:{msg}", Encoding.ASCII.GetString(await client.ReadLengthPrefixedAsync()));

        // Split: one frame dribbled in three writes, cutting the header itself.
        var frame = FramedClient.LengthPrefixed("split across writes"u8);
        await client.SendAsync(frame[..2]);
        await Task.Delay(50);
        await client.SendAsync(frame[2..7]);
        await Task.Delay(50);
        await client.SendAsync(frame[7..]);
        Assert.Equal("split across writes", Encoding.ASCII.GetString(await client.ReadLengthPrefixedAsync()));

        // An empty frame is a frame too.
        await client.SendAsync(FramedClient.LengthPrefixed([]));
        Assert.Empty(await client.ReadLengthPrefixedAsync());
    }

    [Fact]
    public async Task Echo_goes_only_to_the_sender_not_to_other_connections()
    {
        await using var gateway = await StartAsync(Echo());
        await using var first = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await using var second = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        await first.SendAsync(FramedClient.LengthPrefixed("from first"u8));
        await second.SendAsync(FramedClient.LengthPrefixed("from second"u8));

        Assert.Equal("from first", Encoding.ASCII.GetString(await first.ReadLengthPrefixedAsync()));
        Assert.Equal("from second", Encoding.ASCII.GetString(await second.ReadLengthPrefixedAsync()));
    }

    [Fact]
    public async Task Frames_published_by_one_connection_reach_subscribers_on_another_endpoint()
    {
        // Devices speak the stick framing (2-byte length); a line-based console watches their uplink
        // with a wildcard and talks back to all of them on "broadcast".
        await using var gateway = await StartAsync(
        [
            "Gateway:Endpoints:stick:Port=0",
            "Gateway:Endpoints:stick:Framing:LengthFieldSize=2",
            "Gateway:Endpoints:stick:Publish=devices/{connectionId}/up",
            "Gateway:Endpoints:stick:Subscribe:0=devices/{connectionId}/down",
            "Gateway:Endpoints:stick:Subscribe:1=broadcast",
            .. Lines("console", "broadcast", "devices/+/up"),
        ]);
        await using var deviceA = await FramedClient.ConnectAsync(gateway.EndPointOf("stick"));
        await using var deviceB = await FramedClient.ConnectAsync(gateway.EndPointOf("stick"));
        await using var console = await FramedClient.ConnectAsync(gateway.EndPointOf("console"));
        await gateway.WaitForConnectionsAsync(3);

        await deviceA.SendAsync(FramedClient.LengthPrefixed("temperature=21"u8, headerSize: 2));
        Assert.Equal("temperature=21", await console.ReadLineAsync());

        await console.SendLineAsync("reboot");
        Assert.Equal("reboot", Encoding.ASCII.GetString(await deviceA.ReadLengthPrefixedAsync(headerSize: 2)));
        Assert.Equal("reboot", Encoding.ASCII.GetString(await deviceB.ReadLengthPrefixedAsync(headerSize: 2)));
    }

    [Fact]
    public async Task Chat_over_a_unix_socket_and_tcp_shares_one_topic()
    {
        var socketPath = Path.Combine(Path.GetTempPath(), $"gw-{Guid.NewGuid():N}.sock");
        await using var gateway = await StartAsync(
        [
            .. Lines("chat", "chat", "chat"),
            "Gateway:Endpoints:chat_unix:UnixSocketPath=" + socketPath,
            "Gateway:Endpoints:chat_unix:Framing:Kind=Line",
            "Gateway:Endpoints:chat_unix:Publish=chat",
            "Gateway:Endpoints:chat_unix:Subscribe:0=chat",
        ]);
        await using var overUnix = await FramedClient.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        await using var overTcp = await FramedClient.ConnectAsync(gateway.EndPointOf("chat"));
        await gateway.WaitForConnectionsAsync(2);

        await overUnix.SendLineAsync("hello from the unix socket");
        Assert.Equal("hello from the unix socket", await overTcp.ReadLineAsync());
        Assert.Equal("hello from the unix socket", await overUnix.ReadLineAsync());

        await overTcp.SendAsync("hello over tcp\r\n"u8.ToArray());
        Assert.Equal("hello over tcp", await overUnix.ReadLineAsync());
    }

    [Fact]
    public async Task Chat_line_fans_out_to_fifty_clients()
    {
        await using var gateway = await StartAsync(Lines("chat", "chat", "chat"));
        var clients = new List<FramedClient>();
        try
        {
            for (var i = 0; i < 50; i++)
                clients.Add(await FramedClient.ConnectAsync(gateway.EndPointOf("chat")));
            await gateway.WaitForConnectionsAsync(50);

            await clients[17].SendLineAsync("hello, everyone");

            var received = await Task.WhenAll(clients.Select(client => client.ReadLineAsync()));
            Assert.All(received, line => Assert.Equal("hello, everyone", line));
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }

    [Fact]
    public async Task Idle_connection_is_closed_after_the_idle_timeout_and_the_reason_is_logged()
    {
        await using var gateway = await StartAsync(Echo("echo", "Gateway:Endpoints:echo:IdleTimeout=00:00:01"));
        await using var idle = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        Assert.True(await idle.WaitForCloseAsync(TimeSpan.FromSeconds(5)), "the idle connection was not closed");
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("idle timeout", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Half_close_by_the_peer_flushes_pending_frames_then_closes()
    {
        await using var gateway = await StartAsync(Echo());
        await using var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        var frames = Enumerable.Range(0, 100).SelectMany(i => FramedClient.LengthPrefixed(Encoding.ASCII.GetBytes($"frame {i}"))).ToArray();
        await client.SendAsync(frames);
        client.ShutdownSend();

        for (var i = 0; i < 100; i++)
            Assert.Equal($"frame {i}", Encoding.ASCII.GetString(await client.ReadLengthPrefixedAsync()));
        Assert.True(await client.WaitForCloseAsync(s_timeout), "the gateway did not close after the peer's FIN");
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("peer closed", closed.Message, StringComparison.Ordinal);
        Assert.Contains("in 1190 bytes 100 messages, out 1190 bytes 100 messages", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oversized_frame_closes_only_the_offending_connection()
    {
        await using var gateway = await StartAsync(Echo("echo", "Gateway:Endpoints:echo:Framing:MaxFrameSize=1024"));
        await using var offender = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await using var bystander = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        // Only the header of a 5000-byte frame: it must be refused before the body is buffered.
        await offender.SendAsync([0, 0, 0x13, 0x88]);

        Assert.True(await offender.WaitForCloseAsync(s_timeout), "the offending connection stayed open");
        var problem = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "FramingError");
        Assert.Contains("MaxFrameSize", problem.Message, StringComparison.Ordinal);

        await bystander.SendAsync(FramedClient.LengthPrefixed("still here"u8));
        Assert.Equal("still here", Encoding.ASCII.GetString(await bystander.ReadLengthPrefixedAsync()));
    }

    [Fact]
    public async Task Frames_read_together_with_an_oversized_header_are_all_delivered_before_the_close()
    {
        await using var gateway = await StartAsync(Echo("echo", "Gateway:Endpoints:echo:Framing:MaxFrameSize=1024"));
        await using var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        // One write, so most likely one read: more frames than one publish takes, then a header that breaks the framing.
        const int frames = 150;
        var write = Enumerable.Range(0, frames).SelectMany(i => FramedClient.LengthPrefixed(Encoding.ASCII.GetBytes($"frame {i}")))
            .Concat(new byte[] { 0, 0, 0x13, 0x88 }).ToArray();
        await client.SendAsync(write);

        for (var i = 0; i < frames; i++)
            Assert.Equal($"frame {i}", Encoding.ASCII.GetString(await client.ReadLengthPrefixedAsync()));
        Assert.True(await client.WaitForCloseAsync(s_timeout), "the connection stayed open after the oversized header");
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "FramingError");
    }

    [Fact]
    public async Task Peer_closing_in_the_middle_of_a_frame_is_logged_as_a_cut_frame()
    {
        await using var gateway = await StartAsync(Echo());
        await using (var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo")))
        {
            await client.SendAsync([0, 0, 0, 10, 1, 2, 3]);
            client.ShutdownSend();
            Assert.True(await client.WaitForCloseAsync(s_timeout));
        }

        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("middle of a frame, 7 bytes unread", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_beyond_MaxConnections_are_refused_and_the_others_keep_working()
    {
        await using var gateway = await StartAsync(Echo("echo", "Gateway:Endpoints:echo:MaxConnections=2"));
        await using var first = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await using var second = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await gateway.WaitForConnectionsAsync(2);
        await using var third = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        Assert.True(await third.WaitForCloseAsync(s_timeout), "the third connection was not refused");
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionRefused");
        await first.SendAsync(FramedClient.LengthPrefixed("ok"u8));
        Assert.Equal("ok", Encoding.ASCII.GetString(await first.ReadLengthPrefixedAsync()));
    }

    [Fact]
    public async Task Endpoint_on_an_address_in_use_stops_the_start_and_names_the_setting()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;

        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() =>
            StartAsync([.. Echo("echo"), $"Gateway:Endpoints:echo:Port={port}"]));

        Assert.Contains($"Gateway:Endpoints:echo:Port ({port}) is already in use", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Frame_of_the_largest_allowed_size_comes_back_intact()
    {
        // A frame is consumed only when whole, so the transport must read ahead further than its 1 MiB default
        // when MaxFrameSize is raised; the echo leaves as one send gathered from many pool blocks.
        const int maxFrameSize = 3 * 1024 * 1024;
        await using var gateway = await StartAsync(Echo("echo", $"Gateway:Endpoints:echo:Framing:MaxFrameSize={maxFrameSize}"));
        await using var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        var body = new byte[maxFrameSize];
        Random.Shared.NextBytes(body);

        await client.SendAsync(FramedClient.LengthPrefixed(body));

        Assert.Equal(body, await client.ReadLengthPrefixedAsync(timeout: TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task Client_that_stops_reading_gets_every_frame_in_order_once_it_reads_again()
    {
        // 4 MiB of echoes into a 4 KiB receive window: the gateway's sends fill the socket and must wait for room.
        const int frames = 1000;
        await using var gateway = await StartAsync(Echo("echo", $"Gateway:Endpoints:echo:Outbox:Capacity={frames}"));
        await using var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"), receiveBufferSize: 4096);

        static byte[] Body(int i) => Encoding.ASCII.GetBytes($"{i:D6}:{new string((char)('a' + (i % 26)), 4089)}");
        for (var i = 0; i < frames; i++)
            await client.SendAsync(FramedClient.LengthPrefixed(Body(i)));
        // Only once the gateway has read all of it has it queued more than the socket can take.
        await gateway.WaitForConnectionsAsync(1);
        var connection = gateway.Services.GetRequiredService<ConnectionRegistry>().All.Single();
        await Eventually.TrueAsync(() => Volatile.Read(ref connection.Traffic.FramesIn) == frames, "the gateway read every frame");
        Assert.True(Volatile.Read(ref connection.Traffic.FramesOut) < frames, "the client's window should hold back most echoes");

        for (var i = 0; i < frames; i++)
            Assert.Equal(Body(i), await client.ReadLengthPrefixedAsync());
        Assert.Equal(0, gateway.Services.GetRequiredService<IMessageBus>().Counters.Dropped);
    }

    [Fact]
    public async Task Connection_reset_by_the_peer_closes_it_with_that_reason()
    {
        await using var gateway = await StartAsync(Echo());
        var client = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await gateway.WaitForConnectionsAsync(1);

        client.Reset();

        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("reset by peer", closed.Message, StringComparison.Ordinal);
        await Eventually.TrueAsync(() => gateway.Services.GetRequiredService<ConnectionRegistry>().Count == 0, "the reset connection is unlisted");
    }

    [Fact]
    public async Task Endpoint_on_every_interface_serves_ipv4_and_ipv6_clients()
    {
        await using var gateway = await StartAsync(Echo("echo", "Gateway:Endpoints:echo:Address=*"));
        var port = gateway.EndPointOf("echo").Port;

        await using var overIPv4 = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        await using var overIPv6 = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.IPv6Loopback, port));
        await overIPv4.SendAsync(FramedClient.LengthPrefixed("v4"u8));
        await overIPv6.SendAsync(FramedClient.LengthPrefixed("v6"u8));

        Assert.Equal("v4", Encoding.ASCII.GetString(await overIPv4.ReadLengthPrefixedAsync()));
        Assert.Equal("v6", Encoding.ASCII.GetString(await overIPv6.ReadLengthPrefixedAsync()));
    }

    private Task<TestGateway> StartAsync(params string[] settings) => TestGateway.StartAsync(transport, settings);
}

public sealed class FramedEndpointTestsOnEpoll() : FramedEndpointTests(TransportKind.Epoll);

public sealed class FramedEndpointTestsOnSockets() : FramedEndpointTests(TransportKind.Sockets);
