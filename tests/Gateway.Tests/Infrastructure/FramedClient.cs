using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Infrastructure;

/// <summary>A plain socket client for framed endpoints, with helpers for the framings the tests use.</summary>
internal sealed class FramedClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly byte[] _pending = new byte[4 << 20];
    private int _pendingCount;

    private FramedClient(Socket socket)
    {
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
    }

    /// <param name="receiveBufferSize">The socket's receive buffer; small values make a client that is slow to read fill up fast.</param>
    public static async Task<FramedClient> ConnectAsync(EndPoint endPoint, int? receiveBufferSize = null)
    {
        var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBufferSize is { } size) socket.ReceiveBufferSize = size;
        await socket.ConnectAsync(endPoint).WaitAsync(TimeSpan.FromSeconds(5));
        return new FramedClient(socket);
    }

    public static byte[] LengthPrefixed(ReadOnlySpan<byte> body, int headerSize = 4)
    {
        var frame = new byte[headerSize + body.Length];
        if (headerSize == 4) BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        else BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)body.Length);
        body.CopyTo(frame.AsSpan(headerSize));
        return frame;
    }

    public Task SendAsync(byte[] bytes) => _stream.WriteAsync(bytes).AsTask();

    public Task SendLineAsync(string line) => SendAsync(Encoding.UTF8.GetBytes(line + "\n"));

    /// <summary>Closes with RST instead of FIN, as a crashed or killed peer's kernel does.</summary>
    public void Reset()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    /// <summary>Sends FIN: the peer sees 'end' while this side can still read.</summary>
    public void ShutdownSend() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>Reads one frame with a big-endian length header of <paramref name="headerSize"/> bytes; returns its body.</summary>
    public async Task<byte[]> ReadLengthPrefixedAsync(int headerSize = 4, TimeSpan? timeout = null)
    {
        var header = await ReadExactlyAsync(headerSize, timeout);
        var length = headerSize == 4 ? (int)BinaryPrimitives.ReadUInt32BigEndian(header) : BinaryPrimitives.ReadUInt16BigEndian(header);
        return await ReadExactlyAsync(length, timeout);
    }

    public async Task<string> ReadLineAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (true)
        {
            var newline = Array.IndexOf(_pending, (byte)'\n', 0, _pendingCount);
            if (newline >= 0)
            {
                var line = Encoding.UTF8.GetString(_pending, 0, newline);
                Consume(newline + 1);
                return line;
            }

            await FillAsync(cts.Token);
        }
    }

    public async Task<byte[]> ReadExactlyAsync(int count, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        while (_pendingCount < count)
            await FillAsync(cts.Token);
        var result = _pending.AsSpan(0, count).ToArray();
        Consume(count);
        return result;
    }

    /// <summary>True when the server closed the connection (read returned 0 or reset) within the timeout, with nothing unread.</summary>
    public async Task<bool> WaitForCloseAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var read = await _stream.ReadAsync(_pending.AsMemory(_pendingCount), cts.Token);
                if (read == 0) return true;
                _pendingCount += read;
            }
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    private async Task FillAsync(CancellationToken cancellationToken)
    {
        var read = await _stream.ReadAsync(_pending.AsMemory(_pendingCount), cancellationToken);
        if (read == 0) throw new EndOfStreamException("The gateway closed the connection.");
        _pendingCount += read;
    }

    private void Consume(int count)
    {
        Buffer.BlockCopy(_pending, count, _pending, 0, _pendingCount - count);
        _pendingCount -= count;
    }

    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}
