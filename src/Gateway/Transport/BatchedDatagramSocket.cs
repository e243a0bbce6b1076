using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static Gateway.Transport.EpollInterop;

namespace Gateway.Transport;

/// <summary>
/// A datagram socket on Linux with the epoll transport: one thread receives up to a batch of datagrams per
/// <c>recvmmsg</c>, hands them to its <see cref="IDatagramReceiver"/> together, and sends the replies that produced
/// with one <c>sendmmsg</c>. Sends from other threads (an HTTP publish to a UDP peer) go out at once, on the caller's
/// thread.
/// </summary>
/// <remarks>
/// The runtime's socket engine makes two system calls per echoed datagram, and on a virtual machine each
/// call's entry and exit is dear; batching makes that two per batch. Datagrams the kernel refuses to
/// queue (the send buffer is full: <c>EAGAIN</c>) are counted as unsendable rather than waited for, as
/// UDP would lose them further on anyway.
/// </remarks>
internal sealed unsafe class BatchedDatagramSocket : IDisposable
{
    private const int MaxBatch = 64;
    private const int ReceiveMemoryBudget = 1024 * 1024;
    private const int SendArenaSize = 256 * 1024;
    private const int NameSize = 128; // sizeof(struct sockaddr_storage)
    private const int MessageTruncated = 0x20; // MSG_TRUNC in msg_flags

    // After an unexpected receive error, so a persistent one logs a few lines a second instead of spinning.
    private static readonly TimeSpan ErrorBackoff = TimeSpan.FromMilliseconds(100);

    private readonly Socket _socket;
    private readonly int _fd;
    private readonly int _wakeFd;
    private readonly string _name;

    // Receive side: the loop thread's alone.
    private readonly int _slotSize;
    private readonly int _receiveBatch;
    private readonly byte* _receiveBuffers;
    private readonly byte* _receiveNames;
    private readonly IoVector* _receiveVectors;
    private readonly MultiMessageHeader* _receiveHeaders;

    // Send side: under _sendLock. Payloads are copied into the arena, destinations into the name slots.
    private readonly Lock _sendLock = new();
    private readonly byte* _sendArena;
    private readonly byte* _sendNames;
    private readonly IoVector* _sendVectors;
    private readonly MultiMessageHeader* _sendHeaders;
    private readonly (IDatagramSendCompletion Owner, object State)[] _pending = new (IDatagramSendCompletion, object)[MaxBatch];
    private int _pendingCount;
    private int _arenaUsed;

    private Thread? _loopThread;
    private volatile bool _stopping;
    private bool _disposed;

    /// <param name="maxDatagramSize">The largest datagram accepted; one byte more is read, so a longer one is seen as such.</param>
    /// <param name="name">Names the receive thread.</param>
    public BatchedDatagramSocket(Socket socket, int maxDatagramSize, string name)
    {
        _socket = socket;
        _name = name;
        socket.Blocking = false;
        _fd = (int)socket.SafeHandle.DangerousGetHandle();
        _wakeFd = CreateEventFd();
        if (_wakeFd < 0) throw ToException(Marshal.GetLastPInvokeError());

        // One byte more than the limit, so a datagram over it is seen as such.
        _slotSize = maxDatagramSize + 1;
        _receiveBatch = Math.Clamp(ReceiveMemoryBudget / _slotSize, 1, MaxBatch);
        _receiveBuffers = (byte*)NativeMemory.Alloc((nuint)(_receiveBatch * _slotSize));
        _receiveNames = (byte*)NativeMemory.AllocZeroed((nuint)(_receiveBatch * NameSize));
        _receiveVectors = (IoVector*)NativeMemory.AllocZeroed((nuint)(_receiveBatch * sizeof(IoVector)));
        _receiveHeaders = (MultiMessageHeader*)NativeMemory.AllocZeroed((nuint)(_receiveBatch * sizeof(MultiMessageHeader)));
        for (var i = 0; i < _receiveBatch; i++)
        {
            _receiveVectors[i] = new IoVector { Base = _receiveBuffers + i * _slotSize, Length = (nuint)_slotSize };
            _receiveHeaders[i].Header.Vectors = _receiveVectors + i;
            _receiveHeaders[i].Header.VectorCount = 1;
            _receiveHeaders[i].Header.Name = _receiveNames + i * NameSize;
            _receiveHeaders[i].Header.NameLength = NameSize;
        }

        _sendArena = (byte*)NativeMemory.Alloc(SendArenaSize);
        _sendNames = (byte*)NativeMemory.AllocZeroed(MaxBatch * NameSize);
        _sendVectors = (IoVector*)NativeMemory.AllocZeroed((nuint)(MaxBatch * sizeof(IoVector)));
        _sendHeaders = (MultiMessageHeader*)NativeMemory.AllocZeroed((nuint)(MaxBatch * sizeof(MultiMessageHeader)));
        for (var i = 0; i < MaxBatch; i++)
        {
            _sendHeaders[i].Header.Vectors = _sendVectors + i;
            _sendHeaders[i].Header.VectorCount = 1;
            _sendHeaders[i].Header.Name = _sendNames + i * NameSize;
        }
    }

    /// <summary>
    /// Receives on a thread of its own until <paramref name="stopping"/> fires, handing each batch of datagrams to
    /// <paramref name="receiver"/>.
    /// </summary>
    public Task RunAsync(IDatagramReceiver receiver, CancellationToken stopping)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _loopThread = new Thread(() =>
        {
            try
            {
                ReceiveLoop(receiver);
                done.SetResult();
            }
            catch (Exception ex)
            {
                done.SetException(ex);
            }
        })
        {
            IsBackground = true,
            Name = _name,
        };
        var registration = stopping.Register(static state => ((BatchedDatagramSocket)state!).Stop(), this);
        _loopThread.Start();
        return done.Task.ContinueWith(t => { registration.Dispose(); return t; }, TaskScheduler.Default).Unwrap();
    }

    private void ReceiveLoop(IDatagramReceiver receiver)
    {
        var from = new SocketAddress(_socket.AddressFamily);
        while (!_stopping)
        {
            var received = ReceiveMessages(_fd, _receiveHeaders, (uint)_receiveBatch, 0, null);
            if (received > 0)
            {
                // One step of this loop: the WebSocket sends the batch causes go to the kernel together when it ends.
                using (SendRing.Begin())
                {
                    receiver.OnDatagrams(new DatagramBatch(this, received, from));

                    // The kernel wrote each used header's address length; the next call needs the room again.
                    for (var i = 0; i < received; i++)
                        _receiveHeaders[i].Header.NameLength = NameSize;

                    // The replies of this batch, queued by delivery loops that ran inline at the batch's end.
                    lock (_sendLock) FlushLocked();
                }

                continue;
            }

            var errno = Marshal.GetLastPInvokeError();
            switch (errno)
            {
                case EAGAIN:
                    WaitReadable();
                    break;
                case EINTR:
                    break;
                case ECONNREFUSED or EHOSTUNREACH or ENETUNREACH:
                    receiver.OnPeerUnreachable(Marshal.GetPInvokeErrorMessage(errno));
                    break;
                default:
                    if (_stopping) return;
                    receiver.OnReceiveFailed(ToException(errno));
                    // So a persistent error logs a few lines a second instead of spinning.
                    Thread.Sleep(ErrorBackoff);
                    break;
            }
        }
    }

    /// <summary>The datagram at <paramref name="index"/> of the last receive, its sender copied into <paramref name="from"/>.</summary>
    internal ReadOnlySpan<byte> Datagram(int index, SocketAddress from)
    {
        ref var header = ref _receiveHeaders[index];
        var length = (int)header.Length;
        if ((header.Header.Flags & MessageTruncated) != 0) length = _slotSize; // cut to the slot: over the limit
        var nameLength = Math.Min(header.Header.NameLength, from.Buffer.Length);
        new ReadOnlySpan<byte>(header.Header.Name, nameLength).CopyTo(from.Buffer.Span);
        from.Size = nameLength;
        return new ReadOnlySpan<byte>(_receiveBuffers + index * _slotSize, length);
    }

    private void WaitReadable()
    {
        var descriptors = stackalloc PollDescriptor[2];
        descriptors[0] = new PollDescriptor { Fd = _fd, Events = PollIn };
        descriptors[1] = new PollDescriptor { Fd = _wakeFd, Events = PollIn };
        if (Poll(descriptors, 2, -1) > 0 && descriptors[1].ReturnedEvents != 0)
        {
            ulong value;
            Read(_wakeFd, &value, sizeof(ulong));
        }
    }

    /// <summary>
    /// Queues one datagram to <paramref name="destination"/>. On the receive thread it leaves with the batch's
    /// other replies; on any other thread it leaves now. Success or failure is reported to <paramref name="owner"/>,
    /// with <paramref name="state"/>.
    /// </summary>
    public void Send(ReadOnlySpan<byte> payload, SocketAddress destination, IDatagramSendCompletion owner, object state)
    {
        lock (_sendLock)
        {
            if (_disposed)
            {
                owner.OnUnsendable(state, "socket closed");
                return;
            }

            if (_pendingCount == MaxBatch || _arenaUsed + payload.Length > SendArenaSize) FlushLocked();

            var slot = _pendingCount++;
            var data = _sendArena + _arenaUsed;
            payload.CopyTo(new Span<byte>(data, payload.Length));
            _arenaUsed += payload.Length;
            _sendVectors[slot] = new IoVector { Base = data, Length = (nuint)payload.Length };
            destination.Buffer.Span[..destination.Size].CopyTo(new Span<byte>(_sendNames + slot * NameSize, NameSize));
            _sendHeaders[slot].Header.NameLength = destination.Size;
            _pending[slot] = (owner, state);

            if (Thread.CurrentThread != _loopThread) FlushLocked();
        }
    }

    private void FlushLocked()
    {
        var next = 0;
        while (next < _pendingCount)
        {
            var sent = SendMessages(_fd, _sendHeaders + next, (uint)(_pendingCount - next), MsgNoSignal);
            if (sent > 0)
            {
                for (var i = next; i < next + sent; i++)
                    _pending[i].Owner.OnSent(_pending[i].State);
                next += sent;
                continue;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == EINTR) continue;
            if (errno == EAGAIN)
            {
                for (var i = next; i < _pendingCount; i++)
                    _pending[i].Owner.OnUnsendable(_pending[i].State, "socket send buffer full");
                break;
            }

            // This datagram cannot go (no route, too large for the path): it alone is lost.
            _pending[next].Owner.OnUnsendable(_pending[next].State, Marshal.GetPInvokeErrorMessage(errno));
            next++;
        }

        Array.Clear(_pending, 0, _pendingCount);
        _pendingCount = 0;
        _arenaUsed = 0;
    }

    private void Stop()
    {
        _stopping = true;
        ulong one = 1;
        Write(_wakeFd, &one, sizeof(ulong));
    }

    /// <summary>Frees the buffers; the receive loop must have ended, and later sends are counted as unsendable.</summary>
    public void Dispose()
    {
        lock (_sendLock)
        {
            if (_disposed) return;
            FlushLocked();
            _disposed = true;
        }

        Close(_wakeFd);
        NativeMemory.Free(_receiveBuffers);
        NativeMemory.Free(_receiveNames);
        NativeMemory.Free(_receiveVectors);
        NativeMemory.Free(_receiveHeaders);
        NativeMemory.Free(_sendArena);
        NativeMemory.Free(_sendNames);
        NativeMemory.Free(_sendVectors);
        NativeMemory.Free(_sendHeaders);
    }
}

/// <summary>The datagrams one receive call read; valid only during <see cref="IDatagramReceiver.OnDatagrams"/>.</summary>
internal readonly ref struct DatagramBatch
{
    private readonly BatchedDatagramSocket _socket;
    private readonly SocketAddress _from;

    internal DatagramBatch(BatchedDatagramSocket socket, int count, SocketAddress from)
    {
        _socket = socket;
        _from = from;
        Count = count;
    }

    public int Count { get; }

    /// <summary>The datagram at <paramref name="index"/>; <see cref="From"/> is its sender until the next call.</summary>
    public ReadOnlySpan<byte> this[int index] => _socket.Datagram(index, _from);

    /// <summary>The sender of the datagram read last, reused for every datagram.</summary>
    public SocketAddress From => _from;
}

/// <summary>What a <see cref="BatchedDatagramSocket"/> receives for.</summary>
internal interface IDatagramReceiver
{
    /// <summary>Takes the datagrams one receive call read, on the socket's thread.</summary>
    void OnDatagrams(in DatagramBatch batch);

    /// <summary>An ICMP error about an earlier send (the peer has gone): news about that peer, not this socket.</summary>
    void OnPeerUnreachable(string error);

    /// <summary>Receiving failed; the socket goes on receiving after a short pause.</summary>
    void OnReceiveFailed(Exception error);
}

/// <summary>Told whether a datagram given to <see cref="BatchedDatagramSocket.Send"/> left.</summary>
internal interface IDatagramSendCompletion
{
    void OnSent(object state);

    void OnUnsendable(object state, string reason);
}
