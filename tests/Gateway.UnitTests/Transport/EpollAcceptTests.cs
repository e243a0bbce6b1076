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

    [Fact]
    public async Task A_burst_of_connections_is_accepted_in_full_while_no_more_than_the_queue_waits_for_kestrel()
    {
        using var transport = NewTransport();
        await using var listener = (EpollConnectionListener)await transport.BindAsync(new EpollEndPoint(new IPEndPoint(IPAddress.Loopback, 0)));
        const int burst = 300; // within the backlog of 512
        var clients = new List<Socket>();
        try
        {
            for (var i = 0; i < burst; i++)
            {
                var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                clients.Add(client);
                await client.ConnectAsync(listener.EndPoint);
            }

            // Nobody takes them yet: the loop accepts until the queue is full, and the rest wait in the kernel.
            await WaitUntilAsync(() => listener.Queued == EpollConnectionListener.QueueCapacity);
            await Task.Delay(200);
            Assert.Equal(EpollConnectionListener.QueueCapacity, listener.Queued);

            // Taking them resumes accepting: every client gets its connection, each its own.
            var accepted = new List<ConnectionContext>();
            for (var i = 0; i < burst; i++)
                accepted.Add((await listener.AcceptAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)))!);
            var remotes = accepted.Select(c => c.RemoteEndPoint!.ToString()).ToHashSet();
            var locals = clients.Select(c => c.LocalEndPoint!.ToString()).ToHashSet();
            Assert.Equal(burst, remotes.Count);
            Assert.True(locals.SetEquals(remotes));
            foreach (var connection in accepted) await connection.DisposeAsync();
        }
        finally
        {
            foreach (var client in clients) client.Dispose();
        }
    }

    [Fact]
    public async Task Unbinding_ends_the_accepts_closes_the_port_and_disposing_closes_what_was_never_taken()
    {
        using var transport = NewTransport();
        var listener = await transport.BindAsync(new EpollEndPoint(new IPEndPoint(IPAddress.Loopback, 0)));
        var endPoint = (IPEndPoint)listener.EndPoint;
        using var waiting = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await waiting.ConnectAsync(endPoint);
        await WaitUntilAsync(() => ((EpollConnectionListener)listener).Queued == 1);

        await listener.UnbindAsync();
        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(() => late.ConnectAsync(endPoint));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);

        await listener.DisposeAsync();
        Assert.Null(await listener.AcceptAsync());
        // The connection accepted before the unbind and never taken is closed, not left open.
        var buffer = new byte[1];
        var read = await waiting.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, read);
    }

    private static EpollTransportFactory NewTransport() =>
        new(new EpollTransportOptions(1, InlineScheduling: true), new SharedPoolFactory(), NullLogger<EpollTransportFactory>.Instance);

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("The condition did not hold within 10 s.");
            await Task.Delay(10);
        }
    }

    /// <summary>One recv(2) of one byte on the socket's descriptor, as the loops read: its result and errno.</summary>
    private static unsafe (nint Result, int Errno) ReceiveOne(Socket socket)
    {
        byte buffer;
        var result = EpollInterop.Receive((int)socket.SafeHandle.DangerousGetHandle(), &buffer, 1, 0);
        return (result, result < 0 ? Marshal.GetLastPInvokeError() : 0);
    }
}
