using System.Buffers;

namespace Gateway.Protocols.Framing;

/// <summary>Splits a byte stream into frames and writes frames back; one instance per endpoint, shared by its connections.</summary>
public interface IFrameCodec
{
    /// <summary>The largest payload this codec accepts or writes, in bytes.</summary>
    int MaxFrameSize { get; }

    /// <summary>
    /// Reads one frame from the front of <paramref name="buffer"/> without copying.
    /// On success <paramref name="buffer"/> is sliced past the frame and <paramref name="frame"/> is the payload
    /// (a slice of the original sequence, valid only until the pipe is advanced).
    /// Returns false when more bytes are needed; <paramref name="buffer"/> is then unchanged.
    /// Throws <see cref="FramingException"/> on malformed input or a frame over <see cref="MaxFrameSize"/>.
    /// </summary>
    bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame);

    /// <summary>
    /// Writes <paramref name="payload"/> as one frame and returns the number of bytes written.
    /// Throws <see cref="FramingException"/>, before writing anything, when the payload cannot be framed.
    /// </summary>
    int WriteFrame(ReadOnlySpan<byte> payload, IBufferWriter<byte> output);
}
