using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Gateway.Protocols.Framing;

/// <summary>Size errors shared by the codecs; kept out of line so the hot paths stay small.</summary>
internal static class FrameSizeErrors
{
    public static void ThrowIfTooLarge(long payloadLength, int maxFrameSize)
    {
        if (payloadLength > maxFrameSize) ThrowFrameTooLarge(payloadLength, maxFrameSize);
    }

    [DoesNotReturn]
    [StackTraceHidden]
    public static void ThrowFrameTooLarge(long payloadLength, int maxFrameSize) =>
        throw new FramingException($"Frame rejected: its payload of {payloadLength} bytes exceeds MaxFrameSize ({maxFrameSize} bytes).");

    [DoesNotReturn]
    [StackTraceHidden]
    public static void ThrowNoDelimiter(long bufferedLength, int maxFrameSize, string delimiterName) =>
        throw new FramingException(
            $"Frame rejected: {bufferedLength} bytes buffered without a {delimiterName}, so the frame exceeds MaxFrameSize ({maxFrameSize} bytes).");

    [DoesNotReturn]
    [StackTraceHidden]
    public static void ThrowPayloadTooLarge(long payloadLength, int maxFrameSize) =>
        throw new FramingException($"Cannot write a payload of {payloadLength} bytes: it exceeds MaxFrameSize ({maxFrameSize} bytes).");
}
