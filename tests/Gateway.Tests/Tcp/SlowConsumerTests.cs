using System.Net.Sockets;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Tcp;

/// <summary>A peer that stops reading fills its socket, then its outbox; its policy applies to it alone.</summary>
public abstract class SlowConsumerTests(TransportKind transport)
{
    private const int Lines = 5_000;
    private static readonly string s_line = new('x', 1000);

    /// <summary>
    /// "pub" only publishes; "fast" has room for the whole burst; "slow" has a 64-message outbox with
    /// the policy under test, so only the stalled peer on it can overflow.
    /// </summary>
    private static string[] Endpoints(string overflow) =>
    [
        "Gateway:Endpoints:pub:Port=0",
        "Gateway:Endpoints:pub:Framing:Kind=Line",
        "Gateway:Endpoints:pub:Publish=chat",
        "Gateway:Endpoints:fast:Port=0",
        "Gateway:Endpoints:fast:Framing:Kind=Line",
        "Gateway:Endpoints:fast:Subscribe:0=chat",
        $"Gateway:Endpoints:fast:Outbox:Capacity={Lines}",
        "Gateway:Endpoints:slow:Port=0",
        "Gateway:Endpoints:slow:Framing:Kind=Line",
        "Gateway:Endpoints:slow:Subscribe:0=chat",
        "Gateway:Endpoints:slow:Outbox:Capacity=64",
        $"Gateway:Endpoints:slow:Outbox:Overflow={overflow}",
    ];

    [Fact]
    public async Task Stalled_reader_with_disconnect_policy_is_closed_while_the_others_receive_everything()
    {
        await using var gateway = await StartAsync(Endpoints("Disconnect"));
        using var stalled = await ConnectStalledAsync(gateway);
        await using var reader = await FramedClient.ConnectAsync(gateway.EndPointOf("fast"));
        await using var sender = await FramedClient.ConnectAsync(gateway.EndPointOf("pub"));
        await gateway.WaitForConnectionsAsync(3);

        var reading = Task.Run(async () =>
        {
            for (var i = 0; i < Lines; i++)
                Assert.Equal($"{i} {s_line}", await reader.ReadLineAsync());
        });
        await SendBurstAsync(sender);

        await reading.WaitAsync(TimeSpan.FromSeconds(60));
        await gateway.Logs.WaitForAsync(entry => entry.EventId.Name == "ConnectionClosed" && entry.Message.Contains("outbox overflow", StringComparison.Ordinal));
        Assert.Equal(1, gateway.Services.GetRequiredService<IMessageBus>().Counters.DroppedOverflowDisconnect);
    }

    [Fact]
    public async Task Stalled_reader_with_drop_oldest_policy_stays_connected_and_its_drops_are_counted()
    {
        await using var gateway = await StartAsync(Endpoints("DropOldest"));
        using var stalled = await ConnectStalledAsync(gateway);
        await using var sender = await FramedClient.ConnectAsync(gateway.EndPointOf("pub"));
        await gateway.WaitForConnectionsAsync(2);

        await SendBurstAsync(sender);

        var counters = gateway.Services.GetRequiredService<IMessageBus>().Counters;
        await Eventually.TrueAsync(() => counters.DroppedOldest > 0, "the stalled reader's outbox dropped its oldest", TimeSpan.FromSeconds(30));
        Assert.Equal(2, gateway.Services.GetRequiredService<ConnectionRegistry>().Count);
    }

    private static async Task SendBurstAsync(FramedClient sender)
    {
        for (var i = 0; i < Lines; i++)
            await sender.SendLineAsync($"{i} {s_line}");
    }

    /// <summary>A client with a small receive buffer that never reads.</summary>
    private static async Task<Socket> ConnectStalledAsync(TestGateway gateway)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(gateway.EndPointOf("slow"));
        return socket;
    }

    private Task<TestGateway> StartAsync(params string[] settings) => TestGateway.StartAsync(transport, settings);
}

public sealed class SlowConsumerTestsOnEpoll() : SlowConsumerTests(TransportKind.Epoll);

public sealed class SlowConsumerTestsOnSockets() : SlowConsumerTests(TransportKind.Sockets);
