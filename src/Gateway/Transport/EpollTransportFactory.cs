using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Transport;

/// <summary>
/// Kestrel's transport on Linux, for the framed endpoints and the HTTP host: listeners whose connections are served by
/// a few epoll event loops (<see cref="EpollLoop"/>) instead of the runtime's socket engine.
/// </summary>
/// <remarks>
/// Kestrel keeps everything above the transport: the connection handlers and HTTP, connection middleware such as
/// TLS, its connection limits, shutdown and metrics. The loops start with the first listener.
/// </remarks>
internal sealed class EpollTransportFactory(EpollTransportOptions options, IMemoryPoolFactory<byte> pools, ILogger<EpollTransportFactory> logger)
    : IConnectionListenerFactory, IConnectionListenerFactorySelector, IConnectionFactory, IDisposable
{
    private const int ListenBacklog = 512; // Kestrel's default

    private readonly Lock _startLock = new();
    private EpollLoop[]? _loops;
    private MemoryPool<byte>? _pool;
    private EpollPipeOptions? _pipes;
    private int _nextLoop;

    public bool CanBind(EndPoint endpoint) => endpoint is EpollEndPoint;

    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not EpollEndPoint epoll)
            throw new NotSupportedException($"The epoll transport binds only {nameof(EpollEndPoint)}, not {endpoint.GetType().Name}.");

        EnsureStarted();
        SocketException? failure = null;
        foreach (var candidate in epoll.Candidates)
        {
            if (TryBind(candidate, out var socket, ref failure))
                return new ValueTask<IConnectionListener>(new EpollConnectionListener(socket, socket.LocalEndPoint ?? candidate, NextLoop(), this, logger));
        }

        if (!epoll.Optional) throw failure!;
        TransportLog.ListenAddressUnavailable(logger, epoll.ToString(), failure!.Message);
        return new ValueTask<IConnectionListener>(new EpollConnectionListener(null, epoll.Candidates[0], NextLoop(), this, logger));
    }

    /// <summary>
    /// An outbound TCP connection served by the loops, as an accepted one is: its reads and sends happen where epoll
    /// reports it ready, on a loop thread, and the runtime's socket engine never sees it. The connect itself blocks a
    /// thread-pool thread (which keeps the socket away from that engine); cancelling closes the socket, which ends it.
    /// </summary>
    public async ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        EnsureStarted();
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            using (cancellationToken.UnsafeRegister(static state => ((Socket)state!).Dispose(), socket))
                await Task.Run(() => socket.Connect(endpoint), cancellationToken).ConfigureAwait(false);
            socket.Blocking = false;
        }
        catch (Exception ex)
        {
            socket.Dispose();
            if (cancellationToken.IsCancellationRequested) throw new OperationCanceledException("The connect was cancelled.", ex, cancellationToken);
            throw;
        }

        return Accept(socket);
    }

    /// <summary>Wraps an accepted socket (non-blocking: the loops' reads and sends must return EAGAIN, never wait) in a connection served by the next loop, round robin.</summary>
    internal EpollConnection Accept(Socket socket)
    {
        // As Kestrel's socket transport does by default: a response written in two parts (an HTTP answer's body and its
        // chunk terminator) must not wait for the peer's delayed ACK. A framed endpoint sets its own NoDelay after this.
        if (socket.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6) socket.NoDelay = true;
        var connection = new EpollConnection(socket, NextLoop(), _pipes!);
        connection.Start();
        return connection;
    }

    private EpollLoop NextLoop()
    {
        var loops = _loops!;
        return loops[(uint)Interlocked.Increment(ref _nextLoop) % (uint)loops.Length];
    }

    public void Dispose()
    {
        if (_loops is { } loops)
        {
            foreach (var loop in loops) loop.Dispose();
        }

        _pool?.Dispose();
    }

    private void EnsureStarted()
    {
        lock (_startLock)
        {
            if (_loops is not null) return;
            _pool = pools.Create(new MemoryPoolOptions { Owner = "gateway-epoll" });
            _pipes = new EpollPipeOptions(_pool, options);
            var loops = new EpollLoop[options.LoopCount];
            for (var i = 0; i < loops.Length; i++) loops[i] = new EpollLoop($"Gateway epoll loop {i}");
            _loops = loops;
            if (SendRing.Probe() is { } reason) TransportLog.SendRingUnavailable(logger, reason);
        }
    }

    private static bool TryBind(EndPoint candidate, out Socket socket, ref SocketException? failure)
    {
        socket = null!;
        try
        {
            socket = candidate is UnixDomainSocketEndPoint
                ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
                : new Socket(candidate.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (candidate is IPEndPoint ip && ip.Address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(candidate);
            socket.Listen(ListenBacklog);
            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            socket?.Dispose();
            // Kestrel turns this into "Failed to bind to address ...: address already in use."
            throw new AddressInUseException(ex.Message, ex);
        }
        catch (SocketException ex)
        {
            socket?.Dispose();
            failure = ex;
            return false;
        }
    }
}

/// <summary>Settings of the epoll transport, from <c>Gateway:Transport</c>.</summary>
/// <param name="LoopCount">Event-loop threads; connections are spread over them round robin.</param>
/// <param name="InlineScheduling">Run the connection handler on the loop thread rather than the thread pool.</param>
/// <param name="MaxReadBufferSize">Bytes read ahead of the handler before reading pauses (Kestrel's default, 1 MiB).</param>
/// <param name="MaxWriteBufferSize">Bytes the handler may queue ahead of the socket before its flush waits (Kestrel's default, 64 KiB).</param>
internal sealed record EpollTransportOptions(int LoopCount, bool InlineScheduling, long MaxReadBufferSize = 1024 * 1024, long MaxWriteBufferSize = 64 * 1024);
