using System.Buffers.Binary;
using System.Net.WebSockets;

namespace Gateway.WebSockets;

/// <summary>
/// Follows the frames a client sends as their bytes pass on their way to the framework's WebSocket, and finds the first
/// frame that must not reach it: one whose header announces more than <c>MaxMessageBytes</c> (or takes its fragmented
/// message past it), or one that breaks RFC 6455. It decides on the header, before any of the payload is read, so a
/// frame announcing 2^62 bytes costs the gateway nothing but its header. Payloads are skipped, never looked at, except
/// a close frame's two-byte code.
/// </summary>
/// <remarks>
/// RFC 6455, section 5.2: the header is 2 to 14 bytes, then the payload.
/// <code>
///  0                   1                   2                   3
///  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
/// +-+-+-+-+-------+-+-------------+-------------------------------+
/// |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
/// |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
/// |N|V|V|V|       |S|             |   (if payload len==126/127)   |
/// | |1|2|3|       |K|             |                               |
/// +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
/// |     Extended payload length continued, if payload len == 127  |
/// + - - - - - - - - - - - - - - - +-------------------------------+
/// |                               |Masking-key, if MASK set to 1  |
/// +-------------------------------+-------------------------------+
/// | Masking-key (continued)       |          Payload Data         |
/// +-------------------------------- - - - - - - - - - - - - - - - +
/// </code>
/// The framework's WebSocket checks most of these rules too, but it fails the connection at once (a reset when the
/// client is still sending), reports each as the same exception, never checks that a client masks its frames, and buffers
/// a payload before the receive loop can check its size. After the first violation the guard only follows frame
/// boundaries, so that a lingering close can see the client's close frame (<see cref="PeerClosed"/>).
/// </remarks>
internal sealed class ClientFrameGuard(int maxMessageBytes)
{
    private const int MaxHeaderLength = 14;
    private const int CloseCodeLength = 2;
    private const byte Continuation = 0x0, Text = 0x1, Binary = 0x2, Close = 0x8, Ping = 0x9, Pong = 0xA;

    // The header being read, with a close frame's code after it: what the guard decides on.
    private readonly byte[] _header = new byte[MaxHeaderLength + CloseCodeLength];
    private int _headerRead;
    private int _headerLength = 2; // known once the second byte is in; until then any value from 2 up will do
    private ulong _payloadLeft; // of the frame whose header was read: skipped
    private bool _inFragmentedMessage;
    private long _messageBytes; // of the fragmented message so far
    private bool _checking = true;

    /// <summary>The first violation; null while every frame keeps the rules.</summary>
    public FrameViolation? Violation { get; private set; }

    /// <summary>
    /// True when the first bytes of the refused frame's header had passed before the rest arrived: the framework's WebSocket
    /// is then in the middle of a header, not between frames.
    /// </summary>
    public bool StoppedMidHeader { get; private set; }

    /// <summary>True once the client sent a close frame after the guard stopped checking: a lingering close may end.</summary>
    public bool PeerClosed { get; private set; }

    /// <summary>
    /// Stops checking: from here on the guard only follows frames, and notes the client's close frame. Called when the
    /// connection discards what the client sends (a lingering close).
    /// </summary>
    public void StopChecking() => _checking = false;

    /// <summary>
    /// Follows <paramref name="bytes"/>, the next ones the client sent. Returns how many of them may reach the framework's
    /// WebSocket: all of them, or those before the frame that breaks a rule (none, if its header began in earlier bytes).
    /// </summary>
    public int Inspect(ReadOnlySpan<byte> bytes)
    {
        var allowed = bytes.Length;
        var frameStart = 0; // in bytes; 0 also when the header under way began in earlier bytes
        var headerBeganEarlier = _headerRead > 0;
        var i = 0;
        while (i < bytes.Length)
        {
            if (_payloadLeft > 0)
            {
                var skipped = (int)Math.Min(_payloadLeft, (ulong)(bytes.Length - i));
                i += skipped;
                _payloadLeft -= (ulong)skipped;
                continue;
            }

            if (_headerRead == 0)
            {
                frameStart = i;
                headerBeganEarlier = false;
            }

            _header[_headerRead++] = bytes[i++];
            if (_headerRead == 2) _headerLength = HeaderLength(_header[0], _header[1]);
            if (_headerRead < _headerLength) continue;

            _headerRead = 0;
            if (!_checking)
            {
                _payloadLeft = PayloadLength() - (ulong)CodeBytesRead();
                if ((_header[0] & 0x0F) == Close) PeerClosed = true;
                continue;
            }

            Violation = Check(out _payloadLeft);
            if (Violation is null) continue;
            allowed = frameStart;
            StoppedMidHeader = headerBeganEarlier;
            _checking = false;
        }

        return allowed;
    }

    /// <summary>The header's length from its first two bytes; a close frame's code counts as header, to be checked with it.</summary>
    private static int HeaderLength(byte first, byte second)
    {
        var length = 2 + (second & 0x7F) switch { 126 => 2, 127 => 8, _ => 0 } + ((second & 0x80) != 0 ? 4 : 0);
        return HasCloseCode(first, second) ? length + CloseCodeLength : length;
    }

    /// <summary>
    /// A close frame with a code: its payload length is in the second byte, 2 to 125. (A control frame with an extended
    /// length is refused, whatever that length: a control frame's must fit in the second byte.)
    /// </summary>
    private static bool HasCloseCode(byte first, byte second) => (first & 0x0F) == Close && (second & 0x7F) is >= CloseCodeLength and <= 125;

    /// <summary>The payload length the complete header announces.</summary>
    private ulong PayloadLength() => (_header[1] & 0x7F) switch
    {
        126 => BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(2)),
        127 => BinaryPrimitives.ReadUInt64BigEndian(_header.AsSpan(2)),
        var length => (ulong)length,
    };

    /// <summary>The payload bytes read with the header: a close frame's code.</summary>
    private int CodeBytesRead() => HasCloseCode(_header[0], _header[1]) ? CloseCodeLength : 0;

    /// <summary>The complete header's violation, if any; <paramref name="payloadLeft"/> is what follows it of the frame.</summary>
    private FrameViolation? Check(out ulong payloadLeft)
    {
        var first = _header[0];
        var final = (first & 0x80) != 0;
        var opcode = first & 0x0F;
        var length = PayloadLength();
        payloadLeft = length - (ulong)CodeBytesRead();

        if ((first & 0x70) != 0) return FrameViolation.ReservedBits;
        if ((_header[1] & 0x80) == 0) return FrameViolation.Unmasked;
        switch (opcode)
        {
            case Close or Ping or Pong:
                if (!final) return FrameViolation.FragmentedControlFrame;
                if ((_header[1] & 0x7F) > 125) return FrameViolation.ControlFrameTooLong;
                return opcode == Close ? CheckCloseCode(length) : null;
            case Continuation:
                if (!_inFragmentedMessage) return FrameViolation.ContinuationWithoutStart;
                break;
            case Text or Binary:
                if (_inFragmentedMessage) return FrameViolation.DataFrameInsideFragmentedMessage;
                _messageBytes = 0;
                break;
            default:
                return FrameViolation.UnknownOpcode(opcode);
        }

        // Unsigned: a length with its top bit set (which RFC 6455 forbids) is over the limit too.
        if (length > (ulong)(maxMessageBytes - _messageBytes)) return FrameViolation.TooBig(length, _messageBytes, maxMessageBytes);
        _messageBytes += (long)length;
        _inFragmentedMessage = !final;
        return null;
    }

    /// <summary>A close frame's payload is empty, or a valid code (RFC 6455, section 7.4) and a reason.</summary>
    private FrameViolation? CheckCloseCode(ulong length)
    {
        if (length == 0) return null;
        if (length == 1) return FrameViolation.CloseFrameOfOneByte;
        var codeAt = _headerLength - CloseCodeLength;
        var code = ((_header[codeAt] ^ _header[codeAt - 4]) << 8) | (_header[codeAt + 1] ^ _header[codeAt - 3]);
        return IsValidCloseCode(code) ? null : FrameViolation.InvalidCloseCode(code);
    }

    /// <summary>The codes a peer may send: 1000-1003, 1007-1014 (1004-1006 and 1015 are never sent), 3000-4999.</summary>
    internal static bool IsValidCloseCode(int code) => code is (>= 1000 and <= 1003) or (>= 1007 and <= 1014) or (>= 3000 and <= 4999);
}
