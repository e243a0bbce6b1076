using System.Buffers;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.Transport;

/// <summary>
/// One accepted socket served by an <see cref="EpollLoop"/>: Kestrel's connection for it, with the two pipes
/// its connection handler reads from and writes to.
/// </summary>
/// <remarks>
/// <para>Receiving runs on the loop thread. On each readiness edge it reads straight into the input pipe's
/// memory and flushes; with inline scheduling the handler parses and publishes in that same call. A read
/// that returns less than it asked for has emptied the socket, and edge triggering reports the next bytes,
/// so unlike the runtime's socket engine it never pays a read that finds nothing (EAGAIN).</para>
/// <para>Sending runs wherever the handler flushes: the send loop is the output pipe's reader, resumed inline
/// by the flush, and writes the whole flushed sequence with one send or sendmsg. Only a full socket buffer
/// makes it wait, for the loop to report the socket writable again.</para>
/// <para>A writer may also send on its own thread through <see cref="IDirectSendFeature"/>, but only while the
/// send loop waits for data on an empty pipe; the loop marks that state under a lock once direct sends are in use.</para>
/// <para>Closing follows Kestrel's socket transport: when the handler completes its output (or aborts), the
/// rest is sent and the socket shut down in both directions; the loop closes it once reading has ended too. A handler
/// that lingers (<see cref="IHalfCloseFeature"/>) has only the sending side shut down, and reads on until the peer's FIN
/// or until it returns.</para>
/// </remarks>
internal sealed class EpollConnection : ConnectionContext, IQueuedSendCompletion,
    IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature, IConnectionLifetimeFeature,
    IConnectionEndPointFeature, IConnectionSocketFeature, IMemoryPoolFeature, IDirectSendFeature, IHalfCloseFeature, IValueTaskSource
{
    // Ask for at least this much room per read; the pool hands out 4 KiB blocks, so a read fills the rest of one.
    private const int MinReceiveBuffer = 2048;

    private readonly Socket _socket;
    private readonly int _fd;
    private readonly EpollLoop _loop;
    private readonly PipeWriter _receiveInto;
    private readonly PipeReader _sendFrom;
    // The output pipe's writer as the transport made it: a TLS handler writes through its own pipe over this one.
    private readonly PipeWriter _sendInto;
    private readonly CancellationTokenSource _closedTokenSource = new();
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _closedNotified = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _sending;
    private readonly Lock _shutdownLock = new();
    private volatile Exception? _shutdownReason;
    private volatile bool _sendDone;
    private bool _receiveDone;
    private bool _receivePaused;
    private volatile bool _socketClosed;
    // Set by CloseOutputAsync: when the output completes, only the sending side is shut down.
    private volatile bool _halfClose;

    // Waiting for the socket to become writable: the loop counts writable edges, and the sender checks the
    // count again after it has said it waits, so an edge between its EAGAIN and its wait is never lost.
    private ManualResetValueTaskSourceCore<bool> _writable;
    private int _writableEdges;
    private int _senderWaiting;

    // Direct sends (IDirectSendFeature): allowed only while the send loop waits on an empty pipe, that is while it is
    // marked idle and the read it waits on has not been completed by a flush (whose continuation may not have run yet).
    // The mark and the send loop's end change under the gate, so a direct send never overtakes the pipe's bytes or
    // meets a closed socket.
    private readonly Lock _directGate = new();
    private volatile bool _directSends;
    private bool _sendLoopIdle;
    private ValueTask<ReadResult> _idleRead;
    private long _directBytes;
    // The caller's, while a send queued on a SendRing holds the gate. The socket is not closed meanwhile, even by this
    // thread (the gate is reentrant): the send's completion closes it if it was done by then.
    private volatile IDirectSendCompletion? _queuedSend;

    /// <param name="pipes">The transport's pipe settings, shared by its connections.</param>
    public EpollConnection(Socket socket, EpollLoop loop, EpollPipeOptions pipes)
    {
        _socket = socket;
        _fd = (int)socket.SafeHandle.DangerousGetHandle();
        _loop = loop;
        MemoryPool = pipes.Input.Pool;
        ConnectionId = ConnectionIds.Next();
        LocalEndPoint = socket.LocalEndPoint;
        RemoteEndPoint = socket.RemoteEndPoint;
        ConnectionClosed = _closedTokenSource.Token;
        _writable.RunContinuationsAsynchronously = false;

        var input = new Pipe(pipes.Input);
        var output = new Pipe(pipes.Output);
        _receiveInto = input.Writer;
        _sendFrom = output.Reader;
        _sendInto = output.Writer;
        Transport = new DuplexPipe(input.Reader, output.Writer);

        Features = new FeatureCollection();
        Features.Set<IConnectionIdFeature>(this);
        Features.Set<IConnectionTransportFeature>(this);
        Features.Set<IConnectionItemsFeature>(this);
        Features.Set<IConnectionLifetimeFeature>(this);
        Features.Set<IConnectionEndPointFeature>(this);
        Features.Set<IConnectionSocketFeature>(this);
        Features.Set<IMemoryPoolFeature>(this);
        Features.Set<IDirectSendFeature>(this);
        Features.Set<IHalfCloseFeature>(this);

        _sending = SendLoopAsync();
    }

    /// <summary>The epoll registration: slot and generation, set by <see cref="EpollLoop.Register"/>.</summary>
    public ulong Token { get; set; }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features { get; }

    public override IDictionary<object, object?> Items { get; set; } = new ConnectionItems();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed { get; set; }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public MemoryPool<byte> MemoryPool { get; }

    public Socket Socket => _socket;

    /// <summary>Bytes sent through <see cref="TrySend"/>.</summary>
    public long DirectBytes => Interlocked.Read(ref _directBytes);

    public void Start() => _loop.Register(this, _fd);

    /// <summary>Readiness reported by epoll; loop thread only.</summary>
    public void OnEvents(uint events)
    {
        if ((events & (EpollInterop.EpollOut | EpollInterop.EpollErr | EpollInterop.EpollHup)) != 0)
            OnWritable();

        const uint readable = EpollInterop.EpollIn | EpollInterop.EpollRdHup | EpollInterop.EpollHup | EpollInterop.EpollErr;
        if ((events & readable) != 0)
        {
            // With the peer's FIN or an error already reported, no later edge will come: read to the end.
            Receive(untilEmpty: (events & (EpollInterop.EpollRdHup | EpollInterop.EpollHup | EpollInterop.EpollErr)) != 0);
        }
    }

    public override void Abort(ConnectionAbortedException abortReason)
    {
        Shutdown(abortReason);
        // Ends the send loop if it waits for data; if it waits for room, the shutdown's hang-up wakes it.
        _sendFrom.CancelPendingRead();
    }

    public override async ValueTask DisposeAsync()
    {
        Transport.Input.Complete();
        Transport.Output.Complete();
        await _sending.ConfigureAwait(false);
        // A half-closed socket reads until the peer's FIN, which a peer that lingers too may never send: reading ends here.
        if (_halfClose) _loop.Schedule(static state => ((EpollConnection)state!).CompleteReceive(null), this);
        await _closed.Task.ConfigureAwait(false);
        // The token is cancelled on the thread pool: it must not be disposed before that has run.
        await _closedNotified.Task.ConfigureAwait(false);
        _closedTokenSource.Dispose();
    }

    private unsafe void Receive(bool untilEmpty)
    {
        if (_receiveDone || _receivePaused) return;
        var input = _receiveInto;
        while (true)
        {
            var memory = input.GetMemory(MinReceiveBuffer);
            nint received;
            fixed (byte* buffer = memory.Span)
                received = EpollInterop.Receive(_fd, buffer, (nuint)memory.Length, 0);

            if (received > 0)
            {
                input.Advance((int)received);
                var flush = input.FlushAsync();
                if (!flush.IsCompleted)
                {
                    // The handler has not consumed enough: stop reading until it has (backpressure).
                    _receivePaused = true;
                    _ = ResumeWhenFlushedAsync(flush);
                    return;
                }

                var result = flush.Result;
                if (result.IsCompleted || result.IsCanceled)
                {
                    CompleteReceive(null);
                    return;
                }

                if (received < memory.Length && !untilEmpty) return;
                continue;
            }

            if (received == 0)
            {
                CompleteReceive(null); // the peer's FIN
                return;
            }

            var errno = Marshal.GetLastPInvokeError();
            if (errno == EpollInterop.EAGAIN) return;
            if (errno == EpollInterop.EINTR) continue;
            CompleteReceive(EpollInterop.ToException(errno));
            return;
        }
    }

    private async Task ResumeWhenFlushedAsync(ValueTask<FlushResult> flush)
    {
        FlushResult result;
        try
        {
            result = await flush.ConfigureAwait(false);
        }
        catch (Exception)
        {
            result = new FlushResult(isCanceled: false, isCompleted: true);
        }

        _loop.Schedule(static state =>
        {
            var (connection, completed) = ((EpollConnection, bool))state!;
            connection._receivePaused = false;
            if (completed) connection.CompleteReceive(null);
            // Edges that came while paused were ignored, so read until the socket is empty.
            else connection.Receive(untilEmpty: true);
        }, (this, result.IsCompleted || result.IsCanceled));
    }

    private void CompleteReceive(Exception? error)
    {
        if (_receiveDone) return;
        _receiveDone = true;
        // After our own shutdown the read ends because of it: report that reason, as Kestrel's transport does.
        _receiveInto.Complete(_shutdownReason ?? error);
        ThreadPool.UnsafeQueueUserWorkItem(static connection =>
        {
            // ConnectionClosed callbacks are user code: never run them on the loop thread.
            try
            {
                connection._closedTokenSource.Cancel();
            }
            catch (AggregateException)
            {
                // A callback's failure is its owner's concern; the connection is closed either way.
            }

            connection._closedNotified.TrySetResult();
        }, this, preferLocal: false);
        CloseIfDone();
    }

    private async Task SendLoopAsync()
    {
        Exception? error = null;
        var output = _sendFrom;
        try
        {
            while (true)
            {
                // Connections that never send directly (framed TCP, HTTP) read the pipe as before, with no extra async layer.
                var result = _directSends
                    ? await ReadMarkingIdleAsync(output).ConfigureAwait(false)
                    : await output.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled) break;

                var buffer = result.Buffer;
                while (!buffer.IsEmpty)
                {
                    var edges = Volatile.Read(ref _writableEdges);
                    var sent = SendSome(buffer, out var errno);
                    if (sent > 0)
                    {
                        buffer = buffer.Slice(sent);
                    }
                    else if (errno == EpollInterop.EAGAIN)
                    {
                        await WaitWritableAsync(edges).ConfigureAwait(false);
                    }
                    else if (errno != EpollInterop.EINTR)
                    {
                        throw EpollInterop.ToException(errno);
                    }
                }

                output.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }
        finally
        {
            var lingering = error is null && _halfClose;
            if (lingering) ShutdownSend();
            else Shutdown(error);
            // A socket error reaches the handler as the reason its input ended; its writes just stop.
            // Anything else is a fault worth surfacing on the handler's next flush.
            output.Complete(error is IOException ? null : error);
            // A receive paused on a full input pipe must not wait for a handler that will never drain it; a lingering
            // handler drains it.
            if (!lingering) _receiveInto.CancelPendingFlush();
            lock (_directGate)
                _sendDone = true;
            _loop.Schedule(static state => ((EpollConnection)state!).CloseIfDone(), this);
        }
    }

    /// <summary>
    /// The send loop's read of the output pipe once direct sends are in use: a read that must wait marks the loop idle
    /// until it resumes; a flush completes the read at once, so <see cref="TrySend"/> also checks the read itself.
    /// </summary>
    private async ValueTask<ReadResult> ReadMarkingIdleAsync(PipeReader output)
    {
        ValueTask<ReadResult> read;
        lock (_directGate)
        {
            read = output.ReadAsync();
            _sendLoopIdle = !read.IsCompleted;
            _idleRead = read;
        }

        var result = await read.ConfigureAwait(false);
        lock (_directGate)
        {
            _sendLoopIdle = false;
            _idleRead = default;
        }

        return result;
    }

    // The loop may be waiting already, unmarked: it marks itself idle from its next wait on.
    public void EnableDirectSends() => _directSends = true;

    /// <summary>Read under the gate: the send loop waits on an empty pipe, and the connection is not ending.</summary>
    private bool MaySendDirectly => _sendLoopIdle && !_idleRead.IsCompleted && !_sendDone && _shutdownReason is null;

    public bool TrySend(byte[] pinned, int length, IDirectSendCompletion completion)
    {
        if (SendRing.Current is { } ring) return TryQueueSend(ring, pinned, length, completion);
        var sent = TrySend(pinned.AsSpan(0, length));
        if (sent == 0) return false;
        completion.OnSent(sent);
        return true;
    }

    /// <summary>Queues the send on this thread's ring, which submits it when the step that opened it ends.</summary>
    private bool TryQueueSend(SendRing ring, byte[] pinned, int length, IDirectSendCompletion completion)
    {
        // Only tried: another thread's step may hold the gate while its own ring is queued, and waiting for it here
        // could wait for a thread that waits for this one. Held from here until the send has completed, so the
        // descriptor stays this connection's and nothing passes the queued bytes.
        if (!_directGate.TryEnter()) return false;
        var queued = false;
        try
        {
            if (!MaySendDirectly) return false;
            _queuedSend = completion;
            queued = ring.TryQueue(_fd, pinned, length, this);
            if (!queued) _queuedSend = null;
            return queued;
        }
        finally
        {
            if (!queued) _directGate.Exit();
        }
    }

    void IQueuedSendCompletion.Prefetch()
    {
        CacheHint.Prefetch(_directGate);
        CacheHint.Prefetch(_queuedSend);
    }

    void IQueuedSendCompletion.OnSent(int result)
    {
        var completion = _queuedSend!;
        _queuedSend = null;
        var sent = Math.Max(result, 0);
        _directBytes += sent;
        _directGate.Exit();
        // The send loop ended while the send was queued and left the closing to it. The ring may be another loop's (a
        // fan-out runs on the publisher's loop), and only this connection's loop closes its socket.
        if (_sendDone) _loop.Schedule(static state => ((EpollConnection)state!).CloseIfDone(), this);
        // A refused or failed send is 0: the caller writes the bytes through the pipe, whose send loop meets any failure again.
        completion.OnSent(sent);
    }

    public int TrySend(ReadOnlySpan<byte> data)
    {
        lock (_directGate)
        {
            if (!MaySendDirectly) return 0;
            while (true)
            {
                var sent = Send(data);
                if (sent >= 0)
                {
                    _directBytes += sent;
                    return (int)sent;
                }

                // A full buffer or a failure: the pipe carries the bytes, and its send loop meets the failure again.
                if (Marshal.GetLastPInvokeError() != EpollInterop.EINTR) return 0;
            }
        }
    }

    /// <summary>One send or sendmsg of what the socket takes of <paramref name="buffer"/>; the send loop's.</summary>
    private nint SendSome(in ReadOnlySequence<byte> buffer, out int errno)
    {
        var sent = buffer.IsSingleSegment ? Send(buffer.FirstSpan) : SendGathered(buffer);
        errno = sent < 0 ? Marshal.GetLastPInvokeError() : 0;
        return sent;
    }

    /// <summary>One send; negative on failure, with the error in the last P/Invoke error.</summary>
    private unsafe nint Send(ReadOnlySpan<byte> data)
    {
        fixed (byte* bytes = data)
            return EpollInterop.Send(_fd, bytes, (nuint)data.Length, EpollInterop.MsgNoSignal);
    }

    private unsafe nint SendGathered(in ReadOnlySequence<byte> buffer)
    {
        var vectors = stackalloc EpollInterop.IoVector[EpollInterop.MaxIoVectors];
        var pins = ArrayPool<MemoryHandle>.Shared.Rent(EpollInterop.MaxIoVectors);
        var count = 0;
        try
        {
            foreach (var segment in buffer)
            {
                if (segment.IsEmpty) continue;
                pins[count] = segment.Pin();
                vectors[count].Base = pins[count].Pointer;
                vectors[count].Length = (nuint)segment.Length;
                if (++count == EpollInterop.MaxIoVectors) break;
            }

            var message = new EpollInterop.MessageHeader { Vectors = vectors, VectorCount = (nuint)count };
            return EpollInterop.SendMessage(_fd, &message, EpollInterop.MsgNoSignal);
        }
        finally
        {
            for (var i = 0; i < count; i++) pins[i].Dispose();
            ArrayPool<MemoryHandle>.Shared.Return(pins, clearArray: true);
        }
    }

    private ValueTask WaitWritableAsync(int edgesBeforeSend)
    {
        _writable.Reset();
        Interlocked.Exchange(ref _senderWaiting, 1);
        if (Volatile.Read(ref _writableEdges) != edgesBeforeSend && Interlocked.Exchange(ref _senderWaiting, 0) == 1)
            return ValueTask.CompletedTask; // room appeared since the send failed: try again at once
        return new ValueTask(this, _writable.Version);
    }

    private void OnWritable()
    {
        Interlocked.Increment(ref _writableEdges);
        if (Interlocked.Exchange(ref _senderWaiting, 0) == 1) _writable.SetResult(true);
    }

    public Task CloseOutputAsync()
    {
        _halfClose = true;
        _sendInto.Complete();
        return _sending;
    }

    /// <summary>Shuts down the sending side only, after everything was sent: the peer sees FIN, and reading goes on.</summary>
    private void ShutdownSend()
    {
        lock (_shutdownLock)
        {
            // An abort has shut down both directions already, or the loop has closed the descriptor.
            if (_shutdownReason is not null || _socketClosed) return;
            EpollInterop.Shutdown(_fd, EpollInterop.ShutWr);
        }
    }

    /// <summary>Shuts the socket down in both directions, once: the peer sees FIN, and both loops end.</summary>
    private void Shutdown(Exception? reason)
    {
        lock (_shutdownLock)
        {
            // The lock keeps an abort from another thread off a descriptor the loop has closed and may reuse.
            if (_shutdownReason is not null || _socketClosed) return;
            // Null only when the handler completed its output normally; an observer of the input still learns why.
            _shutdownReason = reason ?? new ConnectionAbortedException("The connection was closed by the server.");
            EpollInterop.Shutdown(_fd, EpollInterop.ShutRdWr);
        }

        // The shutdown makes the next read return 0; do it on the loop in case no hang-up edge is reported.
        _loop.Schedule(static state => ((EpollConnection)state!).Receive(untilEmpty: true), this);
    }

    /// <summary>Closes the socket once both directions are over; loop thread only.</summary>
    private void CloseIfDone()
    {
        lock (_shutdownLock)
        {
            if (_socketClosed || !_receiveDone || !_sendDone || _queuedSend is not null) return;
            _socketClosed = true;
        }

        _loop.Unregister(Token, _fd);
        _socket.Dispose();
        _closed.TrySetResult();
    }

    void IValueTaskSource.GetResult(short token) => _writable.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _writable.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _writable.OnCompleted(continuation, state, token, flags);

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }
}

/// <summary>The settings of an epoll connection's two pipes: made once per transport, as they are the same for every connection.</summary>
internal sealed class EpollPipeOptions(MemoryPool<byte> pool, EpollTransportOptions options)
{
    /// <summary>Read from the socket by the loop, read by the handler.</summary>
    public PipeOptions Input { get; } = new(pool, readerScheduler: HandlerScheduler(options), writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: options.MaxReadBufferSize, resumeWriterThreshold: options.MaxReadBufferSize / 2, useSynchronizationContext: false);

    /// <summary>Written by the handler, sent by the connection's send loop.</summary>
    public PipeOptions Output { get; } = new(pool, readerScheduler: HandlerScheduler(options), writerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: options.MaxWriteBufferSize, resumeWriterThreshold: options.MaxWriteBufferSize / 2, useSynchronizationContext: false);

    private static PipeScheduler HandlerScheduler(EpollTransportOptions options) =>
        options.InlineScheduling ? PipeScheduler.Inline : PipeScheduler.ThreadPool;
}
