using System.Runtime.InteropServices;
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
    public async Task An_accepted_tcp_socket_has_nagle_off_as_on_kestrels_socket_transport_and_never_blocks()
    {
        using var transport = new EpollTransportFactory(new EpollTransportOptions(1, InlineScheduling: true), new SharedPoolFactory(),
            NullLogger<EpollTransportFactory>.Instance);
        await using var listener = await transport.BindAsync(new EpollEndPoint(new IPEndPoint(IPAddress.Loopback, 0)));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.EndPoint);

        await using var connection = (await listener.AcceptAsync())!;

        var socket = connection.Features.Get<IConnectionSocketFeature>()!.Socket;
        Assert.True(socket.NoDelay);
        // Non-blocking: a read with nothing to read returns EAGAIN at once instead of waiting.
        Assert.Equal((-1, EpollInterop.EAGAIN), ReceiveOne(socket));
    }

    /// <summary>One recv(2) of one byte on the socket's descriptor, as the loops read: its result and errno.</summary>
    private static unsafe (nint Result, int Errno) ReceiveOne(Socket socket)
    {
        byte buffer;
        var result = EpollInterop.Receive((int)socket.SafeHandle.DangerousGetHandle(), &buffer, 1, 0);
        return (result, result < 0 ? Marshal.GetLastPInvokeError() : 0);
    }
}
