using System.Buffers;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Gateway.Protocols.Framing;

/// <summary>Text lines ending in LF or CRLF, as Netty's LineBasedFrameDecoder.</summary>
internal sealed class LineCodec : IFrameCodec
{
    private const byte CR = (byte)'\r';
    private const byte LF = (byte)'\n';
    private static ReadOnlySpan<byte> CrLf => "\r\n"u8;

    private readonly bool _stripDelimiter;
    private readonly bool _writeCrLf;

    // Past this many buffered bytes without an LF, the line can only end up over MaxFrameSize (the +2 allows for CRLF).
    private readonly long _maxBufferedWithoutLf;

    public LineCodec(int maxFrameSize, bool stripDelimiter, bool writeCrLf)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameSize);
        MaxFrameSize = maxFrameSize;
        _stripDelimiter = stripDelimiter;
        _writeCrLf = writeCrLf;
        _maxBufferedWithoutLf = (long)maxFrameSize + CrLf.Length;
    }

    public int MaxFrameSize { get; }

    /*
        +------------------------+------+----+
        | content (no LF inside) | [CR] | LF |   payload = content, or the whole line when StripDelimiter is false
        +------------------------+------+----+
    */
    public bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        if (buffer.IsSingleSegment)
        {
            ReadOnlySpan<byte> span = buffer.FirstSpan;
            int lf = span.IndexOf(LF);
            if (lf < 0)
            {
                return NeedMoreData(buffer.Length, out frame);
            }

            int payloadLength = !_stripDelimiter ? lf + 1 : lf > 0 && span[lf - 1] == CR ? lf - 1 : lf;
            FrameSizeErrors.ThrowIfTooLarge(payloadLength, MaxFrameSize);
            frame = buffer.Slice(0, payloadLength);
            buffer = buffer.Slice(lf + 1);
            return true;
        }

        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> content, LF, advancePastDelimiter: true))
        {
            return NeedMoreData(buffer.Length, out frame);
        }

        SequencePosition lineEnd = reader.Position;
        ReadOnlySequence<byte> payload = _stripDelimiter ? content : buffer.Slice(0, lineEnd);
        if (_stripDelimiter && !content.IsEmpty)
        {
            // The content's last byte sits just before the LF; a CR there belongs to the line ending.
            reader.Rewind(2);
            if (reader.TryPeek(out byte beforeLf) && beforeLf == CR)
            {
                payload = content.Slice(0, content.Length - 1);
            }
        }

        FrameSizeErrors.ThrowIfTooLarge(payload.Length, MaxFrameSize);
        frame = payload;
        buffer = buffer.Slice(lineEnd);
        return true;
    }

    public int WriteFrame(ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
    {
        // Payloads read without stripping end with their line ending; echoing one must not double it.
        bool hasLineEnding = !_stripDelimiter && payload.EndsWith(LF);
        ReadOnlySpan<byte> content = hasLineEnding ? payload[..^1] : payload;
        ReadOnlySpan<byte> lineEnding = hasLineEnding ? default : _writeCrLf ? CrLf : CrLf[1..];

        long readBackLength = _stripDelimiter ? payload.Length : (long)payload.Length + lineEnding.Length;
        if (readBackLength > MaxFrameSize)
        {
            FrameSizeErrors.ThrowPayloadTooLarge(readBackLength, MaxFrameSize);
        }

        // The peer would split a payload with an LF into two lines, and take a final CR before a bare LF as part of the
        // line ending: refuse both rather than deliver something else.
        if (content.IndexOf(LF) >= 0)
        {
            ThrowPayloadContainsLf(payload.Length);
        }

        if (!hasLineEnding && !_writeCrLf && content.EndsWith(CR))
        {
            ThrowPayloadEndsWithCr(payload.Length);
        }

        int total = payload.Length + lineEnding.Length;
        Span<byte> span = output.GetSpan();
        if (span.Length >= total)
        {
            payload.CopyTo(span);
            lineEnding.CopyTo(span[payload.Length..]);
            output.Advance(total);
        }
        else
        {
            output.Write(payload);
            output.Write(lineEnding);
        }

        return total;
    }

    private bool NeedMoreData(long bufferedLength, out ReadOnlySequence<byte> frame)
    {
        // An endless line must not grow the pipe without bound.
        if (bufferedLength > _maxBufferedWithoutLf)
        {
            FrameSizeErrors.ThrowNoDelimiter(bufferedLength, MaxFrameSize, "line feed");
        }

        frame = default;
        return false;
    }

    [DoesNotReturn]
    [StackTraceHidden]
    private static void ThrowPayloadContainsLf(int payloadLength) =>
        throw new FramingException($"Cannot write a payload of {payloadLength} bytes as a line: it contains a line feed before its end.");

    [DoesNotReturn]
    [StackTraceHidden]
    private static void ThrowPayloadEndsWithCr(int payloadLength) =>
        throw new FramingException(
            $"Cannot write a payload of {payloadLength} bytes as a line: it ends with a CR, which the peer would read as part of a CRLF (set WriteCrLf to keep it).");
}
