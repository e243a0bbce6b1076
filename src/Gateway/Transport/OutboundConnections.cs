using System.Buffers;
using System.IO.Pipelines;
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
    private sealed class ConnectionStream(ConnectionContext connection) : Stream
    {
        private readonly PipeReader _input = connection.Transport.Input;
        private readonly PipeWriter _output = connection.Transport.Output;
        private int _disposed;

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

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
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
            connection.Abort();
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        protected override void Dispose(bool disposing)
        {
            // Not waited for: a client may dispose on a loop thread, and the close finishes on that very loop.
            if (disposing) _ = DisposeAsync().AsTask();
        }
    }
}
