using Gateway.Messaging;

namespace Gateway.WebSockets;

/// <summary>
/// A message as one unmasked, final WebSocket frame: what the server sends every raw-mode subscriber, byte for byte.
/// It is encoded once per message and shared, so fanning out to many sockets costs one copy instead of one per socket.
/// </summary>
internal static class WebSocketFrame
{
    private const byte Final = 0x80;
    private const byte TextOpcode = 0x1;
    private const byte BinaryOpcode = 0x2;

    /// <summary>The frame of <paramref name="message"/>: text or binary by its content type (RFC 6455, section 5.2).</summary>
    public static byte[] Of(Message message)
    {
        if (Volatile.Read(ref message.EncodedWebSocketFrame) is { } encoded) return encoded;
        var payload = message.Payload.Span;
        var headerLength = payload.Length < 126 ? 2 : payload.Length <= ushort.MaxValue ? 4 : 10;
        // Pinned: a frame may be queued for the kernel to read during a later system call (SendRing).
        var frame = GC.AllocateUninitializedArray<byte>(headerLength + payload.Length, pinned: true);
        frame[0] = (byte)(Final | (MessagePayload.IsText(message) ? TextOpcode : BinaryOpcode));
        switch (headerLength)
        {
            case 2:
                frame[1] = (byte)payload.Length;
                break;
            case 4:
                frame[1] = 126;
                System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
                break;
            default:
                frame[1] = 127;
                System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
                break;
        }

        payload.CopyTo(frame.AsSpan(headerLength));
        // Two subscribers may encode at once; both frames are the same bytes, the first stored wins.
        return Interlocked.CompareExchange(ref message.EncodedWebSocketFrame, frame, null) ?? frame;
    }
}
