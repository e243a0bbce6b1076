using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Transport;

namespace Gateway.UnitTests.Transport;

/// <summary>
/// <see cref="SendRing"/> on real loopback sockets: sends queued in a scope reach the kernel together when its outermost
/// end comes, and each completion hears what its socket took.
/// </summary>
public sealed class SendRingTests : IDisposable
{
    private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
    private readonly List<Socket> _sockets = [];

    public SendRingTests()
    {
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen();
    }

    public void Dispose()
    {
        foreach (var socket in _sockets)
            socket.Dispose();
        _listener.Dispose();
    }

    /// <summary>The kernel allows io_uring here unless an administrator turned it off (io_uring_disabled).</summary>
    private static bool KernelAllowsIoUring =>
        File.Exists("/proc/sys/kernel/io_uring_disabled") && File.ReadAllText("/proc/sys/kernel/io_uring_disabled").Trim() == "0";

    /// <summary>A connected pair: the side the ring sends on, non-blocking as the epoll transport's sockets are, and its peer.</summary>
    private (Socket Sender, Socket Receiver) Connect(int sendBuffer = 0)
    {
        var sender = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (sendBuffer > 0) sender.SendBufferSize = sendBuffer;
        sender.Connect(_listener.LocalEndPoint!);
        var receiver = _listener.Accept();
        if (sendBuffer > 0) receiver.ReceiveBufferSize = sendBuffer;
        sender.Blocking = false;
        _sockets.Add(sender);
        _sockets.Add(receiver);
        return (sender, receiver);
    }

    private static int Fd(Socket socket) => (int)socket.SafeHandle.DangerousGetHandle();

    private sealed class Recorder : IQueuedSendCompletion
    {
        public List<int> Results { get; } = [];
        public Action? Then { get; set; }

        public void OnSent(int result)
        {
            Results.Add(result);
            var then = Then;
            Then = null;
            then?.Invoke();
        }
    }

    private static byte[] Pinned(string text)
    {
        var bytes = GC.AllocateArray<byte>(Encoding.ASCII.GetByteCount(text), pinned: true);
        Encoding.ASCII.GetBytes(text, bytes);
        return bytes;
    }

    private static bool Queue(SendRing ring, Socket socket, byte[] pinned, IQueuedSendCompletion completion) =>
        ring.TryQueue(Fd(socket), pinned, pinned.Length, completion);

    private static string Receive(Socket socket, int length)
    {
        var buffer = new byte[length];
        var received = 0;
        socket.ReceiveTimeout = 10_000;
        while (received < length)
            received += socket.Receive(buffer, received, length - received, SocketFlags.None);
        return Encoding.ASCII.GetString(buffer);
    }

    [Fact]
    public void Sends_queued_in_a_scope_reach_their_sockets_at_its_end_and_each_completion_hears_how_many_bytes_went()
    {
        Assert.True(KernelAllowsIoUring, "io_uring is turned off on this machine (/proc/sys/kernel/io_uring_disabled)");
        var pairs = Enumerable.Range(0, 3).Select(_ => Connect()).ToArray();
        var frames = new[] { Pinned("one"), Pinned("second"), Pinned("the third") };
        var recorders = new[] { new Recorder(), new Recorder(), new Recorder() };

        using (SendRing.Begin())
        {
            var ring = SendRing.Current;
            Assert.NotNull(ring);
            for (var i = 0; i < pairs.Length; i++)
                Assert.True(Queue(ring, pairs[i].Sender, frames[i], recorders[i]));

            Thread.Sleep(50);
            Assert.All(pairs, pair => Assert.Equal(0, pair.Receiver.Available));
            Assert.All(recorders, recorder => Assert.Empty(recorder.Results));
        }

        Assert.Null(SendRing.Current);
        for (var i = 0; i < pairs.Length; i++)
        {
            Assert.Equal([frames[i].Length], recorders[i].Results);
            Assert.Equal(Encoding.ASCII.GetString(frames[i]), Receive(pairs[i].Receiver, frames[i].Length));
        }
    }

    [Fact]
    public void Sends_go_before_the_scope_ends_once_as_many_are_queued_as_the_caller_asks()
    {
        Assert.True(KernelAllowsIoUring, "io_uring is turned off on this machine (/proc/sys/kernel/io_uring_disabled)");
        var (sender, receiver) = Connect();
        var first = new Recorder();
        var second = new Recorder();

        using (SendRing.Begin())
        {
            Assert.True(Queue(SendRing.Current!, sender, Pinned("one,"), first));
            SendRing.SubmitIfAtLeast(2);
            Assert.Empty(first.Results);

            Assert.True(Queue(SendRing.Current!, sender, Pinned("two"), second));
            SendRing.SubmitIfAtLeast(2);
            Assert.Equal([4], first.Results);
            Assert.Equal([3], second.Results);
            Assert.Equal("one,two", Receive(receiver, 7));
        }

        Assert.Equal([4], first.Results); // told once, not again at the scope's end
    }

    [Fact]
    public void A_send_its_socket_cannot_take_whole_ends_with_what_it_took_and_does_not_wait()
    {
        Assert.True(KernelAllowsIoUring, "io_uring is turned off on this machine (/proc/sys/kernel/io_uring_disabled)");
        var (sender, _) = Connect(sendBuffer: 16 * 1024);
        var big = GC.AllocateArray<byte>(16 * 1024 * 1024, pinned: true);
        var recorder = new Recorder();

        using (SendRing.Begin())
            Assert.True(Queue(SendRing.Current!, sender, big, recorder));

        var result = Assert.Single(recorder.Results);
        Assert.InRange(result, 1, big.Length - 1);

        // Once the socket is full (the peer reads nothing, so it soon is) a send takes nothing and says so at once.
        var full = new Recorder();
        var chunk = GC.AllocateArray<byte>(1024 * 1024, pinned: true);
        for (var i = 0; i < 100 && !full.Results.Contains(-11); i++)
        {
            using (SendRing.Begin())
                Assert.True(Queue(SendRing.Current!, sender, chunk, full));
        }

        Assert.Contains(-11, full.Results); // -EAGAIN
    }

    [Fact]
    public void Nested_scopes_send_at_the_outermost_end_and_a_completion_may_queue_again()
    {
        Assert.True(KernelAllowsIoUring, "io_uring is turned off on this machine (/proc/sys/kernel/io_uring_disabled)");
        var (sender, receiver) = Connect();
        var first = new Recorder();
        var second = new Recorder();
        var secondFrame = Pinned(",second");
        // A completion that queues another send (as a woken writer may): it goes out before the scope's end returns.
        first.Then = () => Assert.True(Queue(SendRing.Current!, sender, secondFrame, second));

        using (SendRing.Begin())
        {
            using (SendRing.Begin())
                Assert.True(Queue(SendRing.Current!, sender, Pinned("first"), first));

            Thread.Sleep(50);
            Assert.Empty(first.Results);
            Assert.Equal(0, receiver.Available);
        }

        Assert.Equal([5], first.Results);
        Assert.Equal([7], second.Results);
        Assert.Equal("first,second", Receive(receiver, 12));
    }

    [Fact]
    public void A_completion_that_would_overfill_the_ring_is_refused_instead_of_submitting_inside_the_submission()
    {
        Assert.True(KernelAllowsIoUring, "io_uring is turned off on this machine (/proc/sys/kernel/io_uring_disabled)");
        var (sender, receiver) = Connect();
        var one = Pinned("x");
        var first = Enumerable.Range(0, 1024).Select(_ => new Recorder()).ToArray(); // the ring's size
        var again = new List<Recorder>();
        var refused = 0;
        first[0].Then = () =>
        {
            for (var i = 0; i < 1100; i++)
            {
                var recorder = new Recorder();
                if (Queue(SendRing.Current!, sender, one, recorder)) again.Add(recorder);
                else refused++;
            }
        };

        using (SendRing.Begin())
        {
            foreach (var recorder in first)
                Assert.True(Queue(SendRing.Current!, sender, one, recorder));
        }

        // Every send of the first round is told once, and so is every one queued while they were being told.
        Assert.All(first, recorder => Assert.Equal([1], recorder.Results));
        Assert.Equal(1024, again.Count);
        Assert.All(again, recorder => Assert.Equal([1], recorder.Results));
        Assert.Equal(76, refused);
        Assert.Equal(new string('x', 2048), Receive(receiver, 2048));
    }
}
