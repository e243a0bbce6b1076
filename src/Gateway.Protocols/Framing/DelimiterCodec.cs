using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Gateway.Protocols.Framing;

/// <summary>Frames that end with a delimiter byte sequence, as Netty's DelimiterBasedFrameDecoder.</summary>
internal sealed class DelimiterCodec : IFrameCodec
{
    private readonly byte[] _delimiter;
    private readonly bool _stripDelimiter;

    // Past this many buffered bytes without a delimiter, the frame can only end up over MaxFrameSize.
    private readonly long _maxBufferedWithoutDelimiter;

    public DelimiterCodec(int maxFrameSize, ReadOnlySpan<byte> delimiter, bool stripDelimiter)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameSize);
        if (delimiter.IsEmpty)
        {
            throw new ArgumentException("The delimiter must not be empty.", nameof(delimiter));
        }

        MaxFrameSize = maxFrameSize;
        _delimiter = delimiter.ToArray();
        _stripDelimiter = stripDelimiter;
        _maxBufferedWithoutDelimiter = (long)maxFrameSize + delimiter.Length;
    }

    public int MaxFrameSize { get; }

    /// <summary>The delimiter bytes, for diagnostics and tests.</summary>
    public ReadOnlySpan<byte> Delimiter => _delimiter;

    /*
        +--------------------------------+-----------+
        | content (no delimiter inside)  | delimiter |   payload = content, or content + delimiter
        +--------------------------------+-----------+   when StripDelimiter is false
    */
    public bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        ReadOnlySpan<byte> delimiter = _delimiter;
        if (buffer.IsSingleSegment)
        {
            int index = buffer.FirstSpan.IndexOf(delimiter);
            if (index < 0)
            {
                return NeedMoreData(buffer.Length, out frame);
            }

            long frameLength = (long)index + delimiter.Length;
            long payloadLength = _stripDelimiter ? index : frameLength;
            FrameSizeErrors.ThrowIfTooLarge(payloadLength, MaxFrameSize);
            frame = buffer.Slice(0, payloadLength);
            buffer = buffer.Slice(frameLength);
            return true;
        }

        var reader = new SequenceReader<byte>(buffer);
        bool found = delimiter.Length == 1
            ? reader.TryReadTo(out ReadOnlySequence<byte> content, delimiter[0], advancePastDelimiter: true)
            : reader.TryReadTo(out content, delimiter, advancePastDelimiter: true);
        if (!found)
        {
            return NeedMoreData(buffer.Length, out frame);
        }

        ReadOnlySequence<byte> payload = _stripDelimiter ? content : buffer.Slice(0, reader.Position);
        FrameSizeErrors.ThrowIfTooLarge(payload.Length, MaxFrameSize);
        frame = payload;
        buffer = buffer.Slice(reader.Position);
        return true;
    }

    public int WriteFrame(ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
    {
        ReadOnlySpan<byte> delimiter = _delimiter;

        // Payloads read without stripping end with their delimiter; echoing one must not double it.
        ReadOnlySpan<byte> content = !_stripDelimiter && payload.EndsWith(delimiter) ? payload[..^delimiter.Length] : payload;
        long readBackLength = _stripDelimiter ? content.Length : (long)content.Length + delimiter.Length;
        if (readBackLength > MaxFrameSize)
        {
            FrameSizeErrors.ThrowPayloadTooLarge(readBackLength, MaxFrameSize);
        }

        // The peer would split such a payload into two frames: refuse rather than deliver something else.
        if (WouldEndEarly(content, delimiter))
        {
            ThrowPayloadContainsDelimiter(content.Length);
        }

        int total = content.Length + delimiter.Length;
        Span<byte> span = output.GetSpan();
        if (span.Length >= total)
        {
            content.CopyTo(span);
            delimiter.CopyTo(span[content.Length..]);
            output.Advance(total);
        }
        else
        {
            output.Write(content);
            output.Write(delimiter);
        }

        return total;
    }

    /// <summary>
    /// Whether the delimiter occurs in <paramref name="content"/>, or straddles its end and the delimiter appended to it
    /// (possible only for self-overlapping delimiters such as "ABA").
    /// </summary>
    internal static bool WouldEndEarly(ReadOnlySpan<byte> content, ReadOnlySpan<byte> delimiter)
    {
        if (content.IndexOf(delimiter) >= 0)
        {
            return true;
        }

        for (int k = 1; k < delimiter.Length && k <= content.Length; k++)
        {
            // An occurrence starting k bytes before the content's end continues with delimiter[..^k] of the appended delimiter.
            if (content.EndsWith(delimiter[..k]) && delimiter[k..].SequenceEqual(delimiter[..^k]))
            {
                return true;
            }
        }

        return false;
    }

    private bool NeedMoreData(long bufferedLength, out ReadOnlySequence<byte> frame)
    {
        // An endless stream without a delimiter must not grow the pipe without bound.
        if (bufferedLength > _maxBufferedWithoutDelimiter)
        {
            FrameSizeErrors.ThrowNoDelimiter(bufferedLength, MaxFrameSize, "delimiter");
        }

        frame = default;
        return false;
    }

    [DoesNotReturn]
    [StackTraceHidden]
    private static void ThrowPayloadContainsDelimiter(int contentLength) =>
        throw new FramingException(
            $"Cannot write a payload of {contentLength} bytes: it contains the delimiter, so the peer would read it as more than one frame.");
}
