using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Tasks.Sources;
using Gateway.Configuration;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Transport;

/// <summary>
/// Outbound TCP connections for the clients the gateway runs (a route's HTTP pool), on the configured transport: on
/// the epoll transport they are served by its loops, like the connections it accepts, so a route's request and its
/// answer are written and read on a loop thread with no hand-off to the runtime's socket engine; on the socket
/// transport, the runtime's own sockets.
/// </summary>
internal sealed class OutboundConnections(IOptions<GatewayOptions> options, EpollTransportFactory epoll)
{
    /// <summary>
    /// The <see cref="SocketsHttpHandler.ConnectCallback"/> that opens a pool's connections on the transport; null on the
    /// socket transport, where the handler's own connect is the right one.
    /// </summary>
    public Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>>? HttpConnectCallback =>
        options.Value.Transport.Kind == TransportKind.Epoll ? ConnectHttpAsync : null;

    private async ValueTask<Stream> ConnectHttpAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken) =>
        new ConnectionStream(await epoll.ConnectAsync(context.DnsEndPoint, cancellationToken).ConfigureAwait(false));

    /// <summary>A connection's pipes as the one stream an HTTP client reads and writes; disposing it closes the connection.</summary>
    /// <remarks>
    /// A write goes to the socket directly when the transport allows it (<see cref="IDirectSendFeature"/>): on a loop thread
    /// it joins the other sends of that loop's pass in one system call, elsewhere it is sent at once. A client writes a
    /// request whole, then waits for its answer: the direct send spares each request the output pipe, its send loop and a
    /// system call of its own. What the socket does not take, and a write longer than the staging buffer, go through the
    /// output pipe, which then carries everything until it has drained.
    /// </remarks>
    internal sealed class ConnectionStream : Stream, IDirectSendCompletion, IValueTaskSource
    {
        // A request's head and a small body; longer writes are rarer, and the pipe's copy is no cost beside their size.
        internal const int StagingSize = 8 * 1024;
        private const int NotYetTold = -1;

        private readonly ConnectionContext _connection;
        private readonly PipeReader _input;
        private readonly PipeWriter _output;
        private readonly IDirectSendFeature? _direct;
        // Pinned, as the transport reads it after the write has returned when the send is queued on a loop's ring.
        private byte[]? _staging;
        private int _staged;
        private ManualResetValueTaskSourceCore<bool> _written;
        private bool _inTransport; // inside the transport's TrySend, which may tell the completion before it returns
        private int _sentAtOnce; // what the completion heard inside TrySend
        private int _disposed;

        public ConnectionStream(ConnectionContext connection)
        {
            _connection = connection;
            _input = connection.Transport.Input;
            _output = connection.Transport.Output;
            _direct = connection.Features.Get<IDirectSendFeature>();
            _direct?.EnableDirectSends();
            _written.RunContinuationsAsynchronously = false;
        }

        public override bool CanRead => true;

        public override bool CanWrite => true;

        public override bool CanSeek => false;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (true)
            {
                var result = await _input.ReadAsync(cancellationToken).ConfigureAwait(false);
                var available = result.Buffer;
                if (!available.IsEmpty)
                {
                    var count = (int)Math.Min(available.Length, buffer.Length);
                    available.Slice(0, count).CopyTo(buffer.Span);
                    _input.AdvanceTo(available.GetPosition(count));
                    return count;
                }

                _input.AdvanceTo(available.End);
                if (result.IsCompleted || result.IsCanceled) return 0;
            }
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (_direct is null || buffer.IsEmpty || buffer.Length > StagingSize) return WriteThroughPipeAsync(buffer, cancellationToken);
            _staging ??= GC.AllocateUninitializedArray<byte>(StagingSize, pinned: true);
            buffer.Span.CopyTo(_staging);
            _staged = buffer.Length;
            _written.Reset();
            _sentAtOnce = NotYetTold;
            _inTransport = true;
            var taken = _direct.TrySend(_staging, _staged, this);
            _inTransport = false;
            if (!taken) return WriteThroughPipeAsync(buffer, cancellationToken);
            // Queued with the loop's other sends: told when its pass submits them, on this same thread.
            if (_sentAtOnce == NotYetTold) return new ValueTask(this, _written.Version);
            return _sentAtOnce == _staged ? ValueTask.CompletedTask : WriteRestAsync(_sentAtOnce, cancellationToken);
        }

        /// <summary>How much of the staged write the socket took: inside TrySend (sent at once), or when the loop's pass submitted it.</summary>
        void IDirectSendCompletion.OnSent(int sent)
        {
            if (_inTransport)
            {
                _sentAtOnce = sent; // WriteAsync, still on the stack, ends the write
                return;
            }

            if (sent == _staged)
            {
                _written.SetResult(true);
                return;
            }

            _ = EndWhenWrittenAsync(WriteRestAsync(sent, CancellationToken.None));
        }

        /// <summary>
        /// What the socket did not take of the staged write, through the pipe, which copies it before its write returns:
        /// the staging buffer is free again.
        /// </summary>
        private ValueTask WriteRestAsync(int sent, CancellationToken cancellationToken) =>
            WriteThroughPipeAsync(_staging.AsMemory(sent, _staged - sent), cancellationToken);

        private async Task EndWhenWrittenAsync(ValueTask rest)
        {
            try
            {
                await rest.ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _written.SetException(ex);
                return;
            }

            _written.SetResult(true);
        }

        void IValueTaskSource.GetResult(short token) => _written.GetResult(token);

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _written.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _written.OnCompleted(continuation, state, token, flags);

        private async ValueTask WriteThroughPipeAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
        {
            var result = await _output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (result.IsCompleted) throw new IOException("The connection was closed.");
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override Task FlushAsync(CancellationToken cancellationToken) => _output.FlushAsync(cancellationToken).AsTask();

        public override void Flush() => FlushAsync(CancellationToken.None).GetAwaiter().GetResult();

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            _connection.Abort();
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        protected override void Dispose(bool disposing)
        {
            // Not waited for: a client may dispose on a loop thread, and the close finishes on that very loop.
            if (disposing) _ = DisposeAsync().AsTask();
        }
    }
}
