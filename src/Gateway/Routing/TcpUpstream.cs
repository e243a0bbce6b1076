using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using Gateway.Messaging;
using Gateway.Protocols.Framing;
using Polly;

namespace Gateway.Routing;

/// <summary>
/// A TCP upstream: one persistent connection, opened again with backoff whenever it is lost. Each message is written as
/// one frame of the declared framing; each frame the upstream sends is an answer for the reply topic. A message counts
/// as sent once its frame is flushed to the socket: TCP says no more.
/// </summary>
internal sealed class TcpUpstream : IUpstream
{
    private readonly string _host;
    private readonly int _port;
    private readonly IFrameCodec _codec;
    private readonly RouteOptions _options;
    private readonly ResiliencePipeline _pipeline;
    private readonly SemaphoreSlim _writing = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private TaskCompletionSource<Connection> _connected = NewConnected();
    private Task _connectLoop = Task.CompletedTask;

    public TcpUpstream(RouteOptions options, UpstreamCircuit circuit)
    {
        _options = options;
        var address = HostPort.TryParse(options.To.Address, out var parsed) ? parsed.Value : throw new ArgumentException($"Not host:port: {options.To.Address}");
        _host = address.SocketHost;
        _port = address.Port;
        _codec = FrameCodecFactory.Create(options.To.Framing);
        Circuit = circuit;
        _pipeline = UpstreamResilience.Build(options, circuit);
    }

    public string Destination => Circuit.Destination;

    public UpstreamCircuit Circuit { get; }

    /// <summary>Whether the connection is open now.</summary>
    public bool IsConnected => _connected.Task.IsCompletedSuccessfully;

    public Task StartAsync(Action<byte[]> onAnswer, CancellationToken cancellationToken)
    {
        // The upstream may be down when the gateway starts: the route waits for it, the start does not.
        _connectLoop = Task.Run(() => ConnectLoopAsync(onAnswer), CancellationToken.None);
        return Task.CompletedTask;
    }

    public Task<UpstreamResult> SendAsync(Message message, CancellationToken cancellationToken) =>
        UpstreamResilience.SendAsync(_pipeline, token => WriteFrameAsync(message.Payload, token), cancellationToken);

    private async ValueTask WriteFrameAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        // Down: the attempt waits for the connection to come back, within its timeout.
        var connected = Volatile.Read(ref _connected);
        var connection = await connected.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        await _writing.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            // Lost while this writer waited its turn: the upstream has closed it, and a frame written now would be lost
            // while counting as sent. Retried on the next connection instead.
            if (Volatile.Read(ref _connected) != connected) throw new UpstreamNotConnectedException($"{Destination} closed the connection.");
            _codec.WriteFrame(payload.Span, connection.Output);
            FlushResult flushed;
            try
            {
                flushed = await connection.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
            {
                // Part of the frame may be on the wire: a frame written after it would be read as garbage. The connection
                // goes, and the frame is retried whole on the next one.
                await connection.Stream.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            if (flushed.IsCompleted) throw new UpstreamNotConnectedException($"{Destination} closed the connection.");
        }
        finally
        {
            _writing.Release();
        }
    }

    private async Task ConnectLoopAsync(Action<byte[]> onAnswer)
    {
        var token = _stopping.Token;
        var delay = _options.Retry.BaseDelay;
        while (!token.IsCancellationRequested)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(_host, _port, token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or OperationCanceledException)
            {
                socket.Dispose();
                if (token.IsCancellationRequested) return;
                await Task.Delay(delay, token).ContinueWith(static _ => { }, TaskScheduler.Default).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(Math.Max(delay.Ticks * 2, TimeSpan.TicksPerMillisecond * 10), _options.Retry.MaxDelay.Ticks));
                continue;
            }

            delay = _options.Retry.BaseDelay;
            var stream = new NetworkStream(socket, ownsSocket: true);
            var connection = new Connection(stream, PipeWriter.Create(stream));
            _connected.TrySetResult(connection);
            await ReadAnswersAsync(stream, onAnswer, token).ConfigureAwait(false);

            // Lost: later sends wait for the next connection; the writer is done with this one before it goes.
            Volatile.Write(ref _connected, NewConnected());
            await _writing.WaitAsync(CancellationToken.None).ConfigureAwait(false);
            _writing.Release();
            await stream.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task ReadAnswersAsync(Stream stream, Action<byte[]> onAnswer, CancellationToken token)
    {
        var reader = PipeReader.Create(stream);
        try
        {
            while (true)
            {
                var read = await reader.ReadAsync(token).ConfigureAwait(false);
                var buffer = read.Buffer;
                while (_codec.TryReadFrame(ref buffer, out var frame))
                    onAnswer(frame.ToArray());
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (read.IsCompleted) return;
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException or FramingException)
        {
            // The connection is lost or broke the framing: it is opened again.
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static TaskCompletionSource<Connection> NewConnected() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _connectLoop.ConfigureAwait(false);
        if (_connected.Task.IsCompletedSuccessfully) await (await _connected.Task.ConfigureAwait(false)).Stream.DisposeAsync().ConfigureAwait(false);
        _stopping.Dispose();
    }

    private sealed record Connection(Stream Stream, PipeWriter Output);
}
