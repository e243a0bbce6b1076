using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.WebSockets;

/// <summary>
/// WebSockets opened by hand on a TCP socket, past the handshake, for tests that write their own frames (those that break
/// RFC 6455 too) and read the server's frames byte for byte.
/// </summary>
internal static class RawWebSocket
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private static readonly byte[] s_mask = [0x37, 0xfa, 0x21, 0x3d];

    public static Task<TcpClient> OpenRawAsync(TestGateway gateway, string query, int? receiveBufferSize = null) =>
        OpenRawAsync(gateway.HttpAddress.Port, query, receiveBufferSize);

    /// <summary>A WebSocket on the gateway's HTTP port <paramref name="port"/>, at <c>/ws{query}</c>, past the 101 answer.</summary>
    public static async Task<TcpClient> OpenRawAsync(int port, string query, int? receiveBufferSize = null)
    {
        var client = new TcpClient();
        if (receiveBufferSize is { } size) client.ReceiveBufferSize = size;
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(s_timeout);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"GET /ws{query} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"));
        Assert.StartsWith("HTTP/1.1 101", await ReadResponseHeadAsync(stream));
        return client;
    }

    /// <summary>One unfragmented server frame (unmasked, as RFC 6455 requires of a server).</summary>
    public static async Task<(int Opcode, byte[] Payload)> ReadServerFrameAsync(Stream stream, CancellationToken cancellationToken)
    {
        var head = new byte[2];
        await stream.ReadExactlyAsync(head, cancellationToken);
        Assert.Equal(0x80, head[0] & 0xF0); // FIN, no extensions
        Assert.Equal(0, head[1] & 0x80); // unmasked
        long length = head[1] & 0x7F;
        if (length >= 126)
        {
            var extended = new byte[length == 126 ? 2 : 8];
            await stream.ReadExactlyAsync(extended, cancellationToken);
            length = 0;
            foreach (var b in extended) length = (length << 8) | b;
        }

        var payload = new byte[length];
        await stream.ReadExactlyAsync(payload, cancellationToken);
        return (head[0] & 0x0F, payload);
    }

    private static async Task<string> ReadResponseHeadAsync(Stream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        using var cts = new CancellationTokenSource(s_timeout);
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (await stream.ReadAsync(one, cts.Token) == 0) break;
            head.Append((char)one[0]);
        }

        return head.ToString();
    }

    /// <summary>A client text frame as RFC 6455 requires: FIN, masked.</summary>
    public static void WriteMaskedTextFrame(Stream output, string text) => WriteMaskedFrame(output, 0x1, Encoding.UTF8.GetBytes(text));

    /// <summary>A client frame with the given opcode as RFC 6455 requires: FIN, masked.</summary>
    public static void WriteMaskedFrame(Stream output, int opcode, byte[] payload) => WriteFrame(output, 0x80 | opcode, payload);

    /// <summary>A client frame of any first byte (FIN, reserved bits, opcode), masked unless <paramref name="mask"/> is false.</summary>
    public static void WriteFrame(Stream output, int first, ReadOnlySpan<byte> payload, bool mask = true)
    {
        WriteHeader(output, first, (ulong)payload.Length, mask);
        for (var i = 0; i < payload.Length; i++)
            output.WriteByte(mask ? (byte)(payload[i] ^ s_mask[i % 4]) : payload[i]);
    }

    /// <summary>A client frame's header alone, announcing <paramref name="length"/> payload bytes, whatever follows.</summary>
    public static void WriteHeader(Stream output, int first, ulong length, bool mask = true)
    {
        var maskBit = mask ? 0x80 : 0;
        output.WriteByte((byte)first);
        if (length < 126)
        {
            output.WriteByte((byte)(maskBit | (int)length));
        }
        else if (length <= ushort.MaxValue)
        {
            output.WriteByte((byte)(maskBit | 126));
            output.WriteByte((byte)(length >> 8));
            output.WriteByte((byte)length);
        }
        else
        {
            output.WriteByte((byte)(maskBit | 127));
            for (var shift = 56; shift >= 0; shift -= 8) output.WriteByte((byte)(length >> shift));
        }

        if (mask) output.Write(s_mask);
    }

    /// <summary>The bytes of frames written by <paramref name="write"/>.</summary>
    public static byte[] Frames(Action<Stream> write)
    {
        var bytes = new MemoryStream();
        write(bytes);
        return bytes.ToArray();
    }
}
