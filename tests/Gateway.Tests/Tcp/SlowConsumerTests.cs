using System.Net.Sockets;
using System.Text;
using Gateway.Messaging;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Tcp;

/// <summary>A peer that stops reading fills its socket, then its outbox; its policy applies to it alone.</summary>
public sealed class SlowConsumerTests
{
    private const int Lines = 5_000;

    private static string[] Chat(string overflow) =>
    [
        "Gateway:Endpoints:chat:Port=0",
        "Gateway:Endpoints:chat:Framing:Kind=Line",
        "Gateway:Endpoints:chat:Publish=chat",
        "Gateway:Endpoints:chat:Subscribe:0=chat",
        "Gateway:Endpoints:chat:Outbox:Capacity=64",
        $"Gateway:Endpoints:chat:Outbox:Overflow={overflow}",
    ];

    [Fact]
    public async Task Stalled_reader_with_disconnect_policy_is_closed_while_the_others_receive_everything()
    {
        await using var gateway = await TestGateway.StartAsync(Chat("Disconnect"));
        using var stalled = await ConnectStalledAsync(gateway);
        await using var reader = await FramedClient.ConnectAsync(gateway.EndPointOf("chat"));
        await using var sender = await FramedClient.ConnectAsync(gateway.EndPointOf("chat"));
        await gateway.WaitForConnectionsAsync(3);

        var line = new string('x', 1000);
        var reading = Task.Run(async () =>
        {
            for (var i = 0; i < Lines; i++)
                Assert.Equal($"{i} {line}", await reader.ReadLineAsync());
        });
        var senderDraining = Task.Run(async () =>
        {
            for (var i = 0; i < Lines; i++) await sender.ReadLineAsync();
        });
        for (var i = 0; i < Lines; i++)
            await sender.SendLineAsync($"{i} {line}");

        await reading.WaitAsync(TimeSpan.FromSeconds(30));
        await senderDraining.WaitAsync(TimeSpan.FromSeconds(30));
        var closed = await gateway.Logs.WaitForAsync(entry => entry.EventId.Id == 201 && entry.Message.Contains("outbox overflow", StringComparison.Ordinal));
        Assert.Contains("closed", closed.Message, StringComparison.Ordinal);
        Assert.Equal(1, gateway.Services.GetRequiredService<IMessageBus>().Counters.DroppedOverflowDisconnect);
    }

    [Fact]
    public async Task Stalled_reader_with_drop_oldest_policy_stays_connected_and_its_drops_are_counted()
    {
        await using var gateway = await TestGateway.StartAsync(Chat("DropOldest"));
        using var stalled = await ConnectStalledAsync(gateway);
        await using var sender = await FramedClient.ConnectAsync(gateway.EndPointOf("chat"));
        await gateway.WaitForConnectionsAsync(2);

        var line = new string('y', 1000);
        var senderDraining = Task.Run(async () =>
        {
            for (var i = 0; i < Lines; i++) await sender.ReadLineAsync();
        });
        for (var i = 0; i < Lines; i++)
            await sender.SendLineAsync($"{i} {line}");
        await senderDraining.WaitAsync(TimeSpan.FromSeconds(30));

        var counters = gateway.Services.GetRequiredService<IMessageBus>().Counters;
        Assert.True(counters.DroppedOldest > 0, "the stalled reader's outbox never dropped anything");
        Assert.Equal(2, gateway.Services.GetRequiredService<Gateway.Connections.ConnectionRegistry>().Count);
    }

    /// <summary>A client with a tiny receive buffer that never reads.</summary>
    private static async Task<Socket> ConnectStalledAsync(TestGateway gateway)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(gateway.EndPointOf("chat"));
        return socket;
    }
}
