using System.Buffers.Binary;
using Gateway.Messaging;

namespace Gateway.WebSockets;

/// <summary>
/// A message as one unmasked, final WebSocket frame: what the server sends every raw-mode subscriber, byte for byte.
/// It is encoded once per message and shared (<see cref="Message.EncodedAs"/>), so fanning out to many sockets costs one
/// copy instead of one per socket.
/// </summary>
internal sealed class WebSocketFrame : MessageEncoding
{
    private const byte Final = 0x80;
    private const byte TextOpcode = 0x1;
    private const byte BinaryOpcode = 0x2;

    private static readonly WebSocketFrame s_serverFrame = new();

    private WebSocketFrame()
    {
    }

    /// <summary>The frame of <paramref name="message"/>: text or binary by its content type (RFC 6455, section 5.2).</summary>
    public static byte[] Of(Message message) => message.EncodedAs(s_serverFrame);

    protected internal override byte[] Encode(Message message)
    {
        var payload = message.Payload.Span;
        var headerLength = payload.Length < 126 ? 2 : payload.Length <= ushort.MaxValue ? 4 : 10;
        // Pinned: a frame may be handed to the kernel to read during a later system call (the transport's batched sends).
        var frame = GC.AllocateUninitializedArray<byte>(headerLength + payload.Length, pinned: true);
        frame[0] = (byte)(Final | (MessagePayload.IsText(message) ? TextOpcode : BinaryOpcode));
        switch (headerLength)
        {
            case 2:
                frame[1] = (byte)payload.Length;
                break;
            case 4:
                frame[1] = 126;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), (ushort)payload.Length);
                break;
            default:
                frame[1] = 127;
                BinaryPrimitives.WriteUInt64BigEndian(frame.AsSpan(2), (ulong)payload.Length);
                break;
        }

        payload.CopyTo(frame.AsSpan(headerLength));
        return frame;
    }
}
