using System.Runtime.InteropServices;

namespace Gateway.Transport;

/// <summary>Told how a send queued on a <see cref="SendRing"/> ended, on the thread that submitted it.</summary>
internal interface IQueuedSendCompletion
{
    /// <param name="result">The bytes the socket took, or a negative errno (-EAGAIN when its buffer was full).</param>
    void OnSent(int result);

    /// <summary>Starts loading the objects <see cref="OnSent"/> will read (<see cref="CacheHint.Prefetch"/>), a hint only.</summary>
    void Prefetch()
    {
    }
}

/// <summary>
/// The direct sends of one step of a transport thread (an epoll loop's pass over its ready sockets, a datagram socket's
/// batch), queued while it runs and given to the kernel with one <c>io_uring_enter</c> when it ends, instead of one
/// <c>send</c> system call per socket (io_uring(7)): a WebSocket fan-out that runs in it costs one system call for all its
/// subscribers, and a loop under load one for the requests of all the answers it read. On this machine's loopback that
/// halves the server's time per delivery of a minimal C fan-out server, and a route forwards about half as much again
/// (bench/README.md).
/// </summary>
/// <remarks>
/// The transport's threads open the scope (<see cref="Begin"/>) around each step, and may submit before its end
/// (<see cref="SubmitIfAtLeast"/>); nothing outside the transport does.
/// One ring per thread, created the first time that thread queues a send in a scope, and kept for its life. Sends are queued
/// with MSG_DONTWAIT, so the kernel tries each at once inside the call and reports what it could not send instead
/// of waiting: every send has completed when <see cref="Scope.Dispose"/> returns. Where io_uring is unavailable
/// (an old kernel, or a container whose seccomp profile refuses it) <see cref="Current"/> is null, so writers
/// send directly as before.
/// </remarks>
internal sealed unsafe partial class SendRing
{
    private const uint Entries = 1024;
    private const int ParamsSize = 120;   // struct io_uring_params
    private const int SqeSize = 64;       // struct io_uring_sqe
    private const int CqeSize = 16;       // struct io_uring_cqe
    private const byte OpSend = 26;       // IORING_OP_SEND
    private const uint EnterGetEvents = 1;
    private const int MsgDontWait = 0x40;
    private const long SyscallIoUringSetup = 425; // the same number on every architecture
    private const long SyscallIoUringEnter = 426;
    private const long OffsetSubmissionQueueEntries = 0x10000000; // IORING_OFF_SQES; the rings are at offset 0

    [ThreadStatic] private static SendRing? t_ring;
    [ThreadStatic] private static int t_depth;
    private static volatile bool s_unavailable = !OperatingSystem.IsLinux();

    private readonly int _fd;
    private readonly uint* _sqTail;
    private readonly uint* _sqMask;
    private readonly uint* _sqArray;
    private readonly uint* _cqHead;
    private readonly uint* _cqTail;
    private readonly uint* _cqMask;
    private readonly byte* _sqes;
    private readonly byte* _cqes;
    private readonly IQueuedSendCompletion?[] _waiting = new IQueuedSendCompletion?[Entries];
    private readonly IQueuedSendCompletion[] _ended = new IQueuedSendCompletion[Entries];
    private readonly int[] _results = new int[Entries];
    private uint _queued;
    private bool _broken;
    private bool _telling; // in Submit, telling completions: their results are read from _ended and _results

    /// <summary>
    /// The ring of the scope open on this thread, created the first time a thread needs one (most threads that end a
    /// delivery batch never queue a send); null outside a scope, or where io_uring is unavailable.
    /// </summary>
    public static SendRing? Current => t_depth > 0 ? t_ring ?? Create() : null;

    /// <summary>Opens a scope on this thread: sends queued until its outermost end go to the kernel together.</summary>
    public static Scope Begin()
    {
        if (s_unavailable && t_ring is null) return default;
        t_depth++;
        return new Scope(opened: true);
    }

    private static SendRing? Create()
    {
        if (s_unavailable) return null;
        try
        {
            return t_ring = new SendRing();
        }
        catch (IOException)
        {
            // Decided once for the process: every thread would be refused the same way.
            s_unavailable = true;
            return null;
        }
    }

    /// <summary>
    /// Whether this process may use io_uring: null when it may, else why not. A refusal is final for the process, so
    /// <see cref="Begin"/> stops trying.
    /// </summary>
    public static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "io_uring is Linux only";
        var parameters = stackalloc byte[ParamsSize];
        var fd = Setup(1, parameters);
        if (fd >= 0)
        {
            EpollInterop.Close(fd);
            return null;
        }

        s_unavailable = true;
        return SetupFailure();
    }

    /// <summary>io_uring_setup(2) with <paramref name="entries"/> and default parameters, which it fills in; the ring's descriptor, or -1.</summary>
    private static int Setup(uint entries, byte* parameters)
    {
        new Span<byte>(parameters, ParamsSize).Clear();
        return (int)Syscall(SyscallIoUringSetup, entries, (long)parameters, 0, 0, 0, 0);
    }

    private static string SetupFailure() => $"io_uring_setup failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}";

    private SendRing()
    {
        var parameters = stackalloc byte[ParamsSize];
        _fd = Setup(Entries, parameters);
        if (_fd < 0) throw new IOException(SetupFailure());

        // struct io_uring_params: sq_entries, cq_entries, ..., sq_off at 40, cq_off at 80 (io_uring_setup(2)).
        var sqEntries = *(uint*)parameters;
        var cqEntries = *(uint*)(parameters + 4);
        var sqArray = *(uint*)(parameters + 64);
        var cqes = *(uint*)(parameters + 100);
        var ringsLength = Math.Max(sqArray + sqEntries * sizeof(uint), cqes + cqEntries * CqeSize);
        // IORING_FEAT_SINGLE_MMAP (5.4 and later): one mapping holds both rings.
        if ((*(uint*)(parameters + 20) & 1) == 0) Fail("io_uring without IORING_FEAT_SINGLE_MMAP");
        var rings = Map(ringsLength, 0);
        _sqes = Map(sqEntries * SqeSize, OffsetSubmissionQueueEntries);
        _sqTail = (uint*)(rings + *(uint*)(parameters + 44));
        _sqMask = (uint*)(rings + *(uint*)(parameters + 48));
        _sqArray = (uint*)(rings + sqArray);
        _cqHead = (uint*)(rings + *(uint*)(parameters + 80));
        _cqTail = (uint*)(rings + *(uint*)(parameters + 84));
        _cqMask = (uint*)(rings + *(uint*)(parameters + 88));
        _cqes = rings + cqes;
    }

    private byte* Map(nuint length, long offset)
    {
        const int ReadWrite = 0x1 | 0x2, Shared = 0x01, Populate = 0x8000;
        var address = Mmap(0, length, ReadWrite, Shared | Populate, _fd, offset);
        if (address == -1) Fail($"mmap of the io_uring failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
        return (byte*)address;
    }

    private void Fail(string message)
    {
        EpollInterop.Close(_fd);
        throw new IOException(message);
    }

    /// <summary>
    /// Queues a send of the first <paramref name="length"/> bytes of <paramref name="pinned"/> to socket
    /// <paramref name="fd"/>. The array must not move (allocate it pinned) and the descriptor must stay open until
    /// <paramref name="completion"/> is told, on this thread, at the end of the outermost scope (or at an earlier
    /// <see cref="SubmitIfAtLeast"/>); false when the ring cannot take it.
    /// </summary>
    public bool TryQueue(int fd, byte[] pinned, int length, IQueuedSendCompletion completion)
    {
        if (_broken) return false;
        if (_queued == Entries)
        {
            // A completion that queues a send cannot submit from inside the submission that tells it.
            if (_telling) return false;
            Submit();
        }

        byte* data;
        fixed (byte* start = pinned)
            data = start; // stays valid after the fixed block only because the array is pinned
        var index = (*_sqTail + _queued) & *_sqMask;
        var sqe = _sqes + index * SqeSize;
        new Span<byte>(sqe, SqeSize).Clear();
        sqe[0] = OpSend;
        *(int*)(sqe + 4) = fd;
        *(ulong*)(sqe + 16) = (ulong)data;
        *(uint*)(sqe + 24) = (uint)length;
        *(uint*)(sqe + 28) = EpollInterop.MsgNoSignal | MsgDontWait;
        *(ulong*)(sqe + 32) = index;
        _sqArray[index] = index;
        _waiting[index] = completion;
        _queued++;
        return true;
    }

    /// <summary>
    /// Gives the sends queued on this thread to the kernel now, inside the open scope, when there are at least
    /// <paramref name="count"/> of them; the rest wait for the scope's end.
    /// </summary>
    public static void SubmitIfAtLeast(uint count)
    {
        if (t_ring is { _telling: false } ring && ring._queued >= count) ring.Submit();
    }

    /// <summary>Gives the queued sends to the kernel and tells each one's completion how it ended.</summary>
    private void Submit()
    {
        while (_queued > 0)
        {
            var count = _queued;
            _queued = 0;
            Volatile.Write(ref *_sqTail, *_sqTail + count);
            var ended = Enter(count);
            // Told only after the ring is read out: a completion may queue sends again, for the next round.
            _telling = true;
            try
            {
                for (var i = 0; i < ended; i++)
                {
                    // The completions' objects are cold by now: each stage's line was asked for two completions earlier.
                    if (i + 4 < ended) CacheHint.Prefetch(_ended[i + 4]);
                    if (i + 2 < ended) _ended[i + 2].Prefetch();
                    var completion = _ended[i];
                    _ended[i] = null!;
                    completion.OnSent(_results[i]);
                }
            }
            finally
            {
                _telling = false;
            }
        }
    }

    /// <summary>Submits <paramref name="count"/> sends, waits for all of them and reads out their results; returns how many.</summary>
    private int Enter(uint count)
    {
        uint submitted = 0;
        while (submitted < count)
        {
            var result = Syscall(SyscallIoUringEnter, _fd, count - submitted, count - submitted, EnterGetEvents, 0, 0);
            if (result >= 0)
            {
                submitted += (uint)result;
                continue;
            }

            if (Marshal.GetLastPInvokeError() == EpollInterop.EINTR) continue;
            // The kernel refused the rest: the ring is not used again, and the sends it never took end with nothing
            // sent, so their bytes go through the connections' pipes. (Those it took have completed: with MSG_DONTWAIT
            // a send completes inside the call that submits it.)
            _broken = true;
            break;
        }

        var ended = 0;
        var head = *_cqHead;
        var tail = Volatile.Read(ref *_cqTail);
        for (; head != tail; head++)
        {
            var cqe = _cqes + (head & *_cqMask) * CqeSize;
            var index = (uint)*(ulong*)cqe;
            _results[ended] = *(int*)(cqe + 8);
            _ended[ended++] = _waiting[index]!;
            _waiting[index] = null;
        }

        Volatile.Write(ref *_cqHead, tail);
        if (_broken)
        {
            foreach (ref var waiting in _waiting.AsSpan())
            {
                if (waiting is null) continue;
                _results[ended] = 0;
                _ended[ended++] = waiting;
                waiting = null;
            }
        }

        return ended;
    }

    /// <summary>The scope <see cref="Begin"/> opened; disposing the outermost one submits.</summary>
    public readonly struct Scope(bool opened) : IDisposable
    {
        public void Dispose()
        {
            if (!opened) return;
            if (t_depth > 1 || t_ring is not { } ring)
            {
                t_depth--;
                return;
            }

            // Still open while the completions run: sends they queue (a woken writer's) join this submission
            // instead of starting another inside it.
            try
            {
                ring.Submit();
            }
            finally
            {
                t_depth--;
            }
        }
    }

    // syscall(2) is variadic; its integer arguments travel in the same registers as a fixed signature's.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint Mmap(nint address, nuint length, int protection, int flags, int fd, long offset);
}
