using System.Net;
using System.Net.Sockets;
using Gateway.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.UnitTests.Transport;

/// <summary>What the epoll transport sets on every socket it accepts, before any handler sees the connection.</summary>
public sealed class EpollAcceptTests
{
    [Fact]
    public async Task An_accepted_tcp_socket_has_nagle_off_as_on_kestrels_socket_transport()
    {
        using var transport = new EpollTransportFactory(new EpollTransportOptions(1, InlineScheduling: true), new SharedPoolFactory(),
            NullLogger<EpollTransportFactory>.Instance);
        await using var listener = await transport.BindAsync(new EpollEndPoint(new IPEndPoint(IPAddress.Loopback, 0)));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.EndPoint);

        await using var connection = (await listener.AcceptAsync())!;

        var socket = connection.Features.Get<IConnectionSocketFeature>()!.Socket;
        Assert.True(socket.NoDelay);
        Assert.False(socket.Blocking);
    }
}
