using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Gateway.Protocols.Framing;

/// <summary>Frames of one fixed length, optionally padded, as Netty's FixedLengthFrameDecoder (the seed's 128-byte zero-padded frames).</summary>
internal sealed class FixedLengthCodec : IFrameCodec
{
    private readonly int _frameLength;
    private readonly bool _hasPadByte;
    private readonly byte _padByte;

    public FixedLengthCodec(int maxFrameSize, int frameLength, byte? padByte)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameSize);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(frameLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(frameLength, maxFrameSize);
        MaxFrameSize = maxFrameSize;
        _frameLength = frameLength;
        _hasPadByte = padByte.HasValue;
        _padByte = padByte.GetValueOrDefault();
    }

    public int MaxFrameSize { get; }

    /*
        +--------------------------------------+-------------------+
        | payload                              | PadByte ... (opt) |   FrameLength bytes in all
        +--------------------------------------+-------------------+
    */
    public bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        if (buffer.Length < _frameLength)
        {
            frame = default;
            return false;
        }

        ReadOnlySequence<byte> whole = buffer.Slice(0, _frameLength);
        frame = _hasPadByte ? whole.Slice(0, LengthWithoutPadding(whole)) : whole;
        buffer = buffer.Slice(whole.End);
        return true;
    }

    public int WriteFrame(ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
    {
        if (payload.Length > _frameLength || (payload.Length < _frameLength && !_hasPadByte))
        {
            ThrowWrongPayloadLength(payload.Length);
        }

        output.Write(payload);

        // Frames can be up to MaxFrameSize, so pad in whatever span sizes the writer hands out.
        int padding = _frameLength - payload.Length;
        while (padding > 0)
        {
            Span<byte> span = output.GetSpan();
            int count = Math.Min(span.Length, padding);
            span[..count].Fill(_padByte);
            output.Advance(count);
            padding -= count;
        }

        return _frameLength;
    }

    private long LengthWithoutPadding(in ReadOnlySequence<byte> whole)
    {
        if (whole.IsSingleSegment)
        {
            return whole.FirstSpan.LastIndexOfAnyExcept(_padByte) + 1;
        }

        // Walk forward (sequences have no cheap backward walk), remembering the last byte that is not padding.
        long length = 0;
        long segmentStart = 0;
        foreach (ReadOnlyMemory<byte> segment in whole)
        {
            int last = segment.Span.LastIndexOfAnyExcept(_padByte);
            if (last >= 0)
            {
                length = segmentStart + last + 1;
            }

            segmentStart += segment.Length;
        }

        return length;
    }

    [DoesNotReturn]
    [StackTraceHidden]
    private void ThrowWrongPayloadLength(int payloadLength) =>
        throw new FramingException(_hasPadByte
            ? $"Cannot write a payload of {payloadLength} bytes: it exceeds FrameLength ({_frameLength} bytes)."
            : $"Cannot write a payload of {payloadLength} bytes: without a PadByte every payload must be exactly FrameLength ({_frameLength} bytes).");
}
