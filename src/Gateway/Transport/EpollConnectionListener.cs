using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Transport;

/// <summary>
/// A bound listening socket, served by one of the transport's loops as libuv serves Node's: when the loop finds
/// connections in the backlog it accepts a few of them, wraps each in a connection on a loop (round robin), and queues
/// it for Kestrel, whose accept loop takes them through <see cref="AcceptAsync"/>.
/// </summary>
/// <remarks>
/// <para>Accepting this way keeps pace with serving. In a connect storm the backlog always has another connection;
/// accepted back to back, on their own thread, they would arrive faster than the loops and the thread pool can start
/// them, and the sockets already open would wait behind their events and start-up (a publisher's messages by hundreds
/// of milliseconds: bench/README.md, "Connect storm, traced"). A few per pass leave the rest in the kernel's backlog
/// until the loop has been round its ready sockets; and while Kestrel has not taken what is queued, nothing more is
/// accepted.</para>
/// <para>The loop alone accepts, watches, and finally closes the socket, so its descriptor is never reused while an
/// accept on it could still run.</para>
/// </remarks>
internal sealed partial class EpollConnectionListener : IConnectionListener
{
    /// <summary>Connections accepted in one pass of the loop.</summary>
    internal const int AcceptsPerPass = 16;

    /// <summary>Accepted connections Kestrel has not taken yet, beyond which the loop stops accepting.</summary>
    internal const int QueueCapacity = 64;

    /// <summary>How long accepting pauses when the process is out of descriptors or memory, rather than retry at once.</summary>
    private static readonly TimeSpan s_resourcePause = TimeSpan.FromMilliseconds(100);

    private readonly Socket? _socket;
    private readonly int _fd;
    private readonly EpollLoop? _loop;
    private readonly EpollTransportFactory _transport;
    private readonly ILogger _logger;
    private readonly Channel<EpollConnection> _accepted = Channel.CreateBounded<EpollConnection>(new BoundedChannelOptions(QueueCapacity)
    {
        SingleReader = true, // Kestrel's accept loop
        SingleWriter = true, // the loop
    });
    private readonly TaskCompletionSource _unbound = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ulong _token; // the loop's, as are the three below
    private bool _watching;
    private bool _closed;
    private bool _resourceErrorLogged;
    private int _paused; // 1: the queue was full, and the reader asks the loop to watch again once it has taken one
    private int _unbinding;

    /// <param name="socket">Null for an optional address that could not be bound: the listener then accepts nothing.</param>
    public EpollConnectionListener(Socket? socket, EndPoint endPoint, EpollLoop loop, EpollTransportFactory transport, ILogger logger)
    {
        EndPoint = endPoint;
        _transport = transport;
        _logger = logger;
        if (socket is null) return; // accepts nothing until unbound

        _socket = socket;
        _fd = (int)socket.SafeHandle.DangerousGetHandle();
        _loop = loop;
        EpollInterop.SetNonBlocking(_fd);
        loop.Schedule(static state =>
        {
            var listener = (EpollConnectionListener)state!;
            if (listener._closed) return;
            listener._token = listener._loop!.AddListener(listener, listener._fd);
            listener._watching = true;
        }, this);
    }

    public EndPoint EndPoint { get; }

    /// <summary>Accepted connections waiting for Kestrel.</summary>
    internal int Queued => _accepted.Reader.Count;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        var queue = _accepted.Reader;
        while (await queue.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (!queue.TryRead(out var connection)) continue;
            // Taking one made room: a loop that stopped on a full queue watches the backlog again. The fence pairs with
            // the loop's: either it sees this room, or this sees its mark.
            Interlocked.MemoryBarrier();
            if (Volatile.Read(ref _paused) == 1) _loop!.Schedule(static state => ((EpollConnectionListener)state!).Resume(), this);
            return connection;
        }

        return null; // unbound
    }

    /// <summary>The loop found connections in the backlog: accepts up to <see cref="AcceptsPerPass"/> of them; loop thread only.</summary>
    internal void AcceptSome()
    {
        for (var accepted = 0; accepted < AcceptsPerPass && !_closed; accepted++)
        {
            if (_accepted.Reader.Count >= QueueCapacity)
            {
                Watch(false);
                // Marked before the queue is looked at again, with a full fence: a read that made room meanwhile either
                // sees the mark and asks for a resume, or its room is seen here.
                Interlocked.Exchange(ref _paused, 1);
                if (_accepted.Reader.Count < QueueCapacity) Resume();
                return;
            }

            var fd = EpollInterop.Accept(_fd);
            if (fd < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EpollInterop.EAGAIN) return;
                if (errno is EpollInterop.EMFILE or EpollInterop.ENFILE or EpollInterop.ENOBUFS or EpollInterop.ENOMEM)
                {
                    PauseForResources(errno);
                    return;
                }

                continue; // reset or failed while it waited in the backlog (ECONNABORTED, EPROTO, ...): take the next one
            }

            _resourceErrorLogged = false;
            if (Wrap(fd) is { } connection) _accepted.Writer.TryWrite(connection); // room checked above; one writer
        }
    }

    private EpollConnection? Wrap(int fd)
    {
        var handle = new SafeSocketHandle(fd, ownsHandle: true);
        Socket socket;
        try
        {
            socket = new Socket(handle);
        }
        catch (SocketException)
        {
            handle.Dispose(); // the peer is gone already
            return null;
        }

        try
        {
            return _transport.Accept(socket);
        }
        catch (IOException)
        {
            socket.Dispose(); // the socket failed before a loop took it
            return null;
        }
    }

    /// <summary>Out of descriptors or memory: the backlog waits in the kernel, and accepting tries again shortly instead of spinning.</summary>
    private void PauseForResources(int errno)
    {
        Watch(false);
        if (!_resourceErrorLogged)
        {
            _resourceErrorLogged = true;
            LogAcceptPaused(_logger, EndPoint.ToString() ?? "?", Marshal.GetPInvokeErrorMessage(errno), (int)s_resourcePause.TotalMilliseconds);
        }

        _ = ResumeLaterAsync();
    }

    private async Task ResumeLaterAsync()
    {
        await Task.Delay(s_resourcePause).ConfigureAwait(false);
        _loop!.Schedule(static state => ((EpollConnectionListener)state!).Resume(), this);
    }

    /// <summary>Watches the backlog again if there is room in the queue; loop thread only.</summary>
    private void Resume()
    {
        if (_closed || _accepted.Reader.Count >= QueueCapacity) return;
        Volatile.Write(ref _paused, 0);
        Watch(true);
    }

    private void Watch(bool watch)
    {
        if (_watching == watch || _token == 0) return;
        _loop!.WatchListener(_fd, _token, watch);
        _watching = watch;
    }

    public async ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _unbinding, 1) == 0)
        {
            if (_socket is null)
            {
                _accepted.Writer.TryComplete();
                _unbound.TrySetResult();
            }
            else if (_loop!.IsRunning)
                _loop.Schedule(static state => ((EpollConnectionListener)state!).Close(), this);
            else
                Close(); // the loops have stopped: nothing else uses the socket
        }

        try
        {
            await _unbound.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Kestrel stops a failed start with a token cancelled from the outset: the loop closes the socket in a moment.
        }
    }

    /// <summary>Stops accepting and closes the socket; on the loop thread while the loop runs.</summary>
    private void Close()
    {
        _closed = true;
        if (_token != 0 && _loop!.IsRunning) _loop.RemoveListener(_fd, _token);
        _socket!.Dispose();
        // Kestrel's accept loop still takes what was accepted, then sees the end.
        _accepted.Writer.TryComplete();
        _unbound.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        await UnbindAsync().ConfigureAwait(false);
        // Accepted but never taken: nobody else will close them. The loop closes each socket once it is shut down.
        while (_accepted.Reader.TryRead(out var connection))
            connection.Abort(new ConnectionAbortedException("The listener was disposed before the connection was taken."));
    }

    [LoggerMessage(EventId = LogEventIds.Transport + 2, EventName = "AcceptPaused", Level = LogLevel.Warning,
        Message = "Accepting on {EndPoint} failed ({Reason}); new connections wait in the backlog and accepting is tried again every {PauseMs} ms. Logged once until a connection is accepted.")]
    private static partial void LogAcceptPaused(ILogger logger, string endPoint, string reason, int pauseMs);
}
