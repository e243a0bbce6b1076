using System.Net.WebSockets;
using System.Text;
using Gateway.Connections;

namespace Gateway.WebSockets;

/// <summary>
/// Why a client's WebSocket is refused: a frame that breaks RFC 6455, or a message over
/// <c>Gateway:Http:WebSocket:MaxMessageBytes</c>. It names the close code sent, the close frame's reason, and the reason
/// <see cref="Rejections"/> counts it under.
/// </summary>
/// <param name="Status">The close code sent: 1002 for a protocol error, 1007 for invalid UTF-8, 1009 for a message too big.</param>
/// <param name="Problem">What the client did, for the log line.</param>
/// <param name="CloseDescription">The close frame's reason: at most 123 bytes of UTF-8, as RFC 6455 allows.</param>
internal sealed record FrameViolation(WebSocketCloseStatus Status, string Problem, string CloseDescription)
{
    public static readonly FrameViolation Unmasked = Protocol("client frame not masked");
    public static readonly FrameViolation ReservedBits = Protocol("reserved bits set with no extension agreed");
    public static readonly FrameViolation ControlFrameTooLong = Protocol("control frame over 125 bytes");
    public static readonly FrameViolation FragmentedControlFrame = Protocol("fragmented control frame");
    public static readonly FrameViolation ContinuationWithoutStart = Protocol("continuation frame without a message to continue");
    public static readonly FrameViolation DataFrameInsideFragmentedMessage = Protocol("new data frame inside a fragmented message");
    public static readonly FrameViolation CloseFrameOfOneByte = Protocol("close frame with a 1-byte payload");
    public static readonly FrameViolation InvalidCloseReason = Protocol("close frame reason not valid UTF-8");
    public static readonly FrameViolation InvalidUtf8 =
        new(WebSocketCloseStatus.InvalidPayloadData, "invalid UTF-8 in a text message", "invalid UTF-8 in a text message");

    // What the framework's WebSocket says when it fails a receive with no message of its own: a text message's invalid UTF-8
    // (the guard has refused every other fault it reports that way before the framework saw it).
    private static readonly string s_faultWithoutMessage = new WebSocketException(WebSocketError.Faulted).Message;

    /// <summary>The reason <see cref="Rejections"/> counts it under.</summary>
    public string RejectionReason => Status == WebSocketCloseStatus.MessageTooBig ? RejectionReasons.MessageTooBig : RejectionReasons.ProtocolViolation;

    /// <summary>The session's close reason: the problem and the close code sent, for the close line.</summary>
    public string CloseReason => $"{CloseDescription} (closed with {(int)Status})";

    public static FrameViolation UnknownOpcode(int opcode) => Protocol($"unknown opcode 0x{opcode:X}");

    public static FrameViolation InvalidCloseCode(int code) => Protocol($"close frame with invalid code {code}");

    /// <param name="announced">The payload length the frame's header announces.</param>
    /// <param name="before">The bytes its message already had, from earlier fragments.</param>
    public static FrameViolation TooBig(ulong announced, long before, int maxMessageBytes) =>
        new(WebSocketCloseStatus.MessageTooBig,
            before == 0
                ? $"a frame announcing {announced} bytes, over Gateway:Http:WebSocket:MaxMessageBytes ({maxMessageBytes} bytes)"
                : $"a fragment announcing {announced} bytes after {before}, over Gateway:Http:WebSocket:MaxMessageBytes ({maxMessageBytes} bytes)",
            TooBigDescription(maxMessageBytes));

    /// <summary>The close frame's reason for a message over the limit; a client reads the setting's name in it.</summary>
    public static string TooBigDescription(int maxMessageBytes) => $"message over Gateway:Http:WebSocket:MaxMessageBytes ({maxMessageBytes} bytes)";

    /// <summary>
    /// The violation the framework's WebSocket found itself, having sent its close frame and thrown (RFC 6455 checks it makes
    /// on payloads, which <see cref="ClientFrameGuard"/> does not repeat); null when <paramref name="fault"/> is no such failure.
    /// </summary>
    public static FrameViolation? OfFrameworkFault(Exception fault)
    {
        if (fault is not WebSocketException { WebSocketErrorCode: WebSocketError.Faulted } exception) return null;
        if (exception.InnerException is DecoderFallbackException) return InvalidCloseReason;
        // Where no guard reads the frames first (HTTP/2), the framework's header checks land here, with their own message.
        return exception.Message == s_faultWithoutMessage ? InvalidUtf8 : Protocol(exception.Message);
    }

    private static FrameViolation Protocol(string problem)
    {
        var description = "protocol violation: " + problem;
        // The close frame carries at most 123 bytes of reason; the framework's own messages are not ours to size.
        if (Encoding.UTF8.GetByteCount(description) > 123) description = "protocol violation";
        return new FrameViolation(WebSocketCloseStatus.ProtocolError, problem, description);
    }
}
