using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.UnitTests.Transport;

/// <summary>
/// The stream a route's HTTP client writes its requests to, over an outbound connection of the epoll transport: writes
/// go to the socket directly, or with a loop pass's other sends, and whatever cannot go directly goes through the
/// connection's pipe, with every byte in the order it was written.
/// </summary>
public sealed class OutboundConnectionStreamTests : IAsyncLifetime
{
    private readonly EpollTransportFactory _transport =
        new(new EpollTransportOptions(1, InlineScheduling: true), new SharedPoolFactory(), NullLogger<EpollTransportFactory>.Instance);
    private readonly TcpListener _server = new(IPAddress.Loopback, 0);
    private EpollConnection _connection = null!;
    private OutboundConnections.ConnectionStream _stream = null!;
    private Socket _peer = null!;

    public async Task InitializeAsync()
    {
        _server.Start();
        _connection = (EpollConnection)await _transport.ConnectAsync(new IPEndPoint(IPAddress.Loopback, ((IPEndPoint)_server.LocalEndpoint).Port));
        _peer = await _server.AcceptSocketAsync();
        _stream = new OutboundConnections.ConnectionStream(_connection);
    }

    public async Task DisposeAsync()
    {
        await _stream.DisposeAsync();
        _peer.Dispose();
        _server.Stop();
        _transport.Dispose();
    }

    private async Task<byte[]> ReceiveAsync(int length)
    {
        var buffer = new byte[length];
        var received = 0;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (received < length)
        {
            var count = await _peer.ReceiveAsync(buffer.AsMemory(received), timeout.Token);
            Assert.NotEqual(0, count);
            received += count;
        }

        return buffer;
    }

    [Fact]
    public async Task Writes_go_to_the_socket_directly_once_the_pipe_has_drained_and_a_long_one_through_the_pipe_in_order()
    {
        // Room for all of it at once: the pipe's send loop sends the long write inside its flush and is idle again after.
        _connection.Socket.SendBufferSize = 1024 * 1024;
        var longWrite = Encoding.ASCII.GetBytes(new string('L', OutboundConnections.ConnectionStream.StagingSize + 1));
        // Off the test framework's synchronization context, as on the gateway's threads: with it, the send loop's
        // continuation would be posted elsewhere instead of running inside the flush.
        await Task.Run(async () =>
        {
            // The connection's send loop was already waiting when the stream asked for direct sends: the first write wakes it.
            await _stream.WriteAsync("first,"u8.ToArray());
            await _stream.WriteAsync("second,"u8.ToArray());
            await _stream.WriteAsync(longWrite);
            await _stream.WriteAsync("third"u8.ToArray());
        });

        var expected = "first,second," + Encoding.ASCII.GetString(longWrite) + "third";
        Assert.Equal(expected, Encoding.ASCII.GetString(await ReceiveAsync(expected.Length)));
        Assert.Equal("second,third".Length, _connection.DirectBytes);
    }

    [Fact]
    public async Task A_write_on_a_transport_thread_in_the_middle_of_a_pass_completes_when_the_pass_sends_it()
    {
        var queued = await Task.Run(async () =>
        {
            await _stream.WriteAsync("first,"u8.ToArray());
            using (SendRing.Begin())
            {
                var write = _stream.WriteAsync("second"u8.ToArray());
                Assert.False(write.IsCompleted); // on the pass's ring, not sent yet
                Thread.Sleep(50);
                Assert.Equal("first,".Length, _peer.Available);
                return write;
            }
        });

        Assert.True(queued.IsCompletedSuccessfully);
        await queued;
        Assert.Equal("first,second", Encoding.ASCII.GetString(await ReceiveAsync(12)));
        Assert.Equal(6, _connection.DirectBytes);
    }

    [Fact]
    public async Task What_a_full_socket_does_not_take_goes_through_the_pipe_and_every_byte_arrives_in_order()
    {
        _connection.Socket.SendBufferSize = 4096;
        const int writes = 1000, size = 4000;
        var all = new byte[writes * size];
        for (var i = 0; i < all.Length; i++) all[i] = (byte)((i / size) + (i % 251));

        // The peer reads nothing at first, so the socket fills: a direct send takes what still fits, or nothing, and the
        // rest queues in the pipe; the writes after it go through the pipe too until it has drained.
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < writes; i++)
                await _stream.WriteAsync(all.AsMemory(i * size, size));
        });
        await Task.Delay(300);
        var received = await ReceiveAsync(all.Length);
        await writing.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(all, received);
        Assert.InRange(_connection.DirectBytes, 1, all.Length - 1);
    }
}
