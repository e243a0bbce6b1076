using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Transport;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.UnitTests.Transport;

/// <summary>
/// The epoll transport's direct sends (<see cref="IDirectSendFeature"/>) on a real socket: they go out on the caller's
/// thread only while the output pipe is drained, so bytes keep the order they were written in, whichever way each went.
/// </summary>
public sealed class EpollDirectSendTests : IAsyncLifetime
{
    private EpollTransportFactory _transport = null!;
    private IConnectionListener _listener = null!;
    private Socket _client = null!;
    private EpollConnection _connection = null!;

    public Task InitializeAsync() => OpenAsync(inlineScheduling: true);

    /// <summary>A transport with one loop, and one connection to it from a client socket.</summary>
    private async Task OpenAsync(bool inlineScheduling)
    {
        _transport = new EpollTransportFactory(new EpollTransportOptions(1, inlineScheduling), new SharedPoolFactory(),
            NullLogger<EpollTransportFactory>.Instance);
        _listener = await _transport.BindAsync(new EpollEndPoint(new IPEndPoint(IPAddress.Loopback, 0)));
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // Small buffers on the reading side, so a peer that stops reading fills the connection quickly.
        _client.ReceiveBufferSize = 16 * 1024;
        await _client.ConnectAsync(_listener.EndPoint);
        _connection = (EpollConnection)(await _listener.AcceptAsync())!;
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _connection.DisposeAsync();
        await _listener.DisposeAsync();
        _transport.Dispose();
    }

    private sealed class Completion : IDirectSendCompletion
    {
        public List<int> Results { get; } = [];

        public void OnSent(int sent) => Results.Add(sent);
    }

    private static byte[] Pinned(ReadOnlySpan<byte> bytes)
    {
        var pinned = GC.AllocateArray<byte>(bytes.Length, pinned: true);
        bytes.CopyTo(pinned);
        return pinned;
    }

    [Fact]
    public async Task A_send_handed_over_inside_a_pass_goes_out_when_the_pass_ends_after_what_the_pipe_sent()
    {
        var frame = Pinned("second,"u8);
        var completion = new Completion();
        using (SendRing.Begin())
            Assert.False(_connection.TrySend(frame, frame.Length, completion)); // not enabled yet

        _connection.EnableDirectSends();
        await WriteThroughPipeAsync("first,"u8.ToArray());
        using (SendRing.Begin())
        {
            Assert.True(_connection.TrySend(frame, frame.Length, completion));
            Assert.Empty(completion.Results); // queued on the pass's ring, not sent yet
        }

        Assert.Equal(5, _connection.TrySend("third"u8));
        Assert.Equal([7], completion.Results);
        Assert.Equal("first,second,third", await ReadStringAsync(18));
        Assert.Equal(12, _connection.DirectBytes);
    }

    [Fact]
    public async Task A_send_handed_over_outside_a_pass_goes_out_at_once_and_its_completion_hears_it_before_the_call_returns()
    {
        var completion = new Completion();
        _connection.EnableDirectSends();
        await WriteThroughPipeAsync("first,"u8.ToArray());

        Assert.True(_connection.TrySend(Pinned("second"u8), "second".Length, completion));

        Assert.Equal([6], completion.Results);
        Assert.Equal("first,second", await ReadStringAsync(12));
    }

    [Fact]
    public async Task Sends_nothing_until_enabled_then_sends_on_the_callers_thread_after_what_the_pipe_sent()
    {
        Assert.Equal(0, _connection.TrySend("never"u8));

        _connection.EnableDirectSends();
        // The send loop marks itself idle from its next wait on: the first write after enabling goes through the pipe.
        await WriteThroughPipeAsync("first,"u8.ToArray());
        Assert.Equal(7, _connection.TrySend("second,"u8));
        Assert.Equal(5, _connection.TrySend("third"u8));

        Assert.Equal("first,second,third", await ReadStringAsync(18));
        Assert.Equal(12, _connection.DirectBytes);
    }

    [Fact]
    public async Task While_the_pipe_holds_unsent_bytes_nothing_goes_directly_and_the_order_is_kept()
    {
        _connection.EnableDirectSends();
        await WriteThroughPipeAsync("hello,"u8.ToArray());
        Assert.Equal(7, _connection.TrySend("direct,"u8));

        // The client reads nothing: the pipe's send loop fills the socket and waits with most of this still queued
        // (far more than a loopback socket's buffers take).
        var bulk = Pattern(32 * 1024 * 1024, seed: 1);
        var writing = await StartWriteAsync(bulk);
        Assert.False(writing.IsCompleted);
        Assert.Equal(0, _connection.TrySend("tail"u8));
        var tailWritten = WriteAfterAsync(writing, "tail"u8.ToArray());

        var expected = Concat("hello,direct,"u8.ToArray(), bulk, "tail"u8.ToArray());
        Assert.Equal(expected, await ReadAsync(expected.Length));
        await tailWritten;

        // Drained: direct sends resume.
        Assert.Equal(1, _connection.TrySend("!"u8));
        Assert.Equal("!", await ReadStringAsync(1));
        Assert.Equal(8, _connection.DirectBytes);
    }

    [Fact]
    public async Task A_partial_direct_send_is_finished_through_the_pipe_in_order()
    {
        _connection.EnableDirectSends();
        await WriteThroughPipeAsync("start,"u8.ToArray());

        var big = Pattern(32 * 1024 * 1024, seed: 2);
        var sent = _connection.TrySend(big);
        Assert.InRange(sent, 1, big.Length - 1); // a loopback socket's buffers take far less
        var rest = await StartWriteAsync(big.AsMemory(sent));
        Assert.Equal(0, _connection.TrySend("after"u8));
        var afterWritten = WriteAfterAsync(rest, "after"u8.ToArray());

        var expected = Concat("start,"u8.ToArray(), big, "after"u8.ToArray());
        Assert.Equal(expected, await ReadAsync(expected.Length));
        await afterWritten;
        Assert.Equal(sent, _connection.DirectBytes);
    }

    [Fact]
    public async Task Once_the_output_is_complete_nothing_is_sent_directly()
    {
        _connection.EnableDirectSends();
        await WriteThroughPipeAsync("bye,"u8.ToArray());
        Assert.Equal(3, _connection.TrySend("now"u8));
        Assert.Equal("bye,now", await ReadStringAsync(7));

        await Task.Run(() => _connection.Transport.Output.CompleteAsync().AsTask());
        Assert.Equal(0, await _client.ReceiveAsync(new byte[16])); // the server's FIN: the send loop has ended
        Assert.Equal(0, _connection.TrySend("late"u8));
        Assert.Equal(3, _connection.DirectBytes);
    }

    [Fact]
    public async Task A_flush_whose_send_loop_resumes_later_still_goes_before_the_next_direct_send()
    {
        // Without inline scheduling a flush only queues the send loop's resumption to the thread pool: the pipe holds
        // bytes while the loop still looks idle. Each direct send right after a flush must wait its turn.
        await DisposeAsync();
        await OpenAsync(inlineScheduling: false);
        _connection.EnableDirectSends();
        for (var i = 0; i < 200; i++)
        {
            var piped = $"p{i},";
            var direct = Encoding.ASCII.GetBytes($"d{i},");
            await _connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes(piped));
            var sent = _connection.TrySend(direct);
            if (sent < direct.Length) await _connection.Transport.Output.WriteAsync(direct.AsMemory(sent));

            Assert.Equal(piped + Encoding.ASCII.GetString(direct), await ReadStringAsync(piped.Length + direct.Length));
            // Let the send loop come back to its wait, marked idle, before the next flush.
            await Task.Delay(1);
        }
    }

    /// <summary>
    /// Starts a write as Kestrel makes one, from a thread without a synchronization context (only there does the flush
    /// resume the send loop inline; no continuation is inlined under a context such as the test framework's). Returns
    /// once the bytes are in the pipe and the send loop has sent what the socket took, with the flush still pending
    /// if the socket is full.
    /// </summary>
    private Task<Task> StartWriteAsync(ReadOnlyMemory<byte> bytes) =>
        Task.Factory.StartNew<Task>(() => _connection.Transport.Output.WriteAsync(bytes).AsTask(),
            CancellationToken.None, TaskCreationOptions.None, TaskScheduler.Default);

    private async Task WriteThroughPipeAsync(ReadOnlyMemory<byte> bytes) => await await StartWriteAsync(bytes);

    private async Task WriteAfterAsync(Task before, byte[] bytes)
    {
        await before;
        await WriteThroughPipeAsync(bytes);
    }

    private async Task<string> ReadStringAsync(int length) => Encoding.ASCII.GetString(await ReadAsync(length));

    private async Task<byte[]> ReadAsync(int length)
    {
        var buffer = new byte[length];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (var read = 0; read < length;)
        {
            var n = await _client.ReceiveAsync(buffer.AsMemory(read), timeout.Token);
            Assert.NotEqual(0, n);
            read += n;
        }

        return buffer;
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(part => part).ToArray();
}
