using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;

namespace Gateway.Protocols.Framing;

/// <summary>Frames that carry their own length, with the semantics of Netty's LengthFieldBasedFrameDecoder.</summary>
internal sealed class LengthFieldCodec : IFrameCodec
{
    private readonly int _lengthFieldOffset;
    private readonly int _lengthFieldSize;
    private readonly int _lengthFieldEndOffset;
    private readonly bool _bigEndian;
    private readonly int _lengthAdjustment;
    private readonly int _initialBytesToStrip;

    // What the writer puts in the output span before the payload's tail: the stripped bytes, and when the payload
    // keeps part of the header (strip < lengthFieldEndOffset), the payload's own header bytes up to the length field's end.
    private readonly int _writtenHeaderLength;

    private readonly ulong _maxFieldValue;

    public LengthFieldCodec(
        int maxFrameSize,
        int lengthFieldOffset,
        int lengthFieldSize,
        ByteOrder byteOrder,
        int lengthAdjustment,
        int? initialBytesToStrip)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxFrameSize);
        ArgumentOutOfRangeException.ThrowIfNegative(lengthFieldOffset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(lengthFieldOffset, FramingOptions.MaxHeaderLength);
        if (lengthFieldSize is not (1 or 2 or 4 or 8))
        {
            throw new ArgumentOutOfRangeException(nameof(lengthFieldSize), lengthFieldSize, "The length field size must be 1, 2, 4 or 8.");
        }

        MaxFrameSize = maxFrameSize;
        _lengthFieldOffset = lengthFieldOffset;
        _lengthFieldSize = lengthFieldSize;
        _lengthFieldEndOffset = lengthFieldOffset + lengthFieldSize;
        _bigEndian = byteOrder == ByteOrder.BigEndian;
        _lengthAdjustment = lengthAdjustment;
        _initialBytesToStrip = initialBytesToStrip ?? _lengthFieldEndOffset;
        ArgumentOutOfRangeException.ThrowIfNegative(_initialBytesToStrip, nameof(initialBytesToStrip));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(_initialBytesToStrip, FramingOptions.MaxHeaderLength, nameof(initialBytesToStrip));
        _writtenHeaderLength = Math.Max(_initialBytesToStrip, _lengthFieldEndOffset);
        _maxFieldValue = lengthFieldSize switch
        {
            1 => byte.MaxValue,
            2 => ushort.MaxValue,
            4 => uint.MaxValue,
            _ => long.MaxValue,
        };
    }

    public int MaxFrameSize { get; }

    /*
        One frame, offsets from its first byte (Netty's LengthFieldBasedFrameDecoder):

        +-------------------+----------------------+--------------------------------------------+
        | LengthFieldOffset | length field         | value + LengthAdjustment bytes             |
        | bytes (any)       | LengthFieldSize      |                                            |
        |                   | bytes, unsigned      |                                            |
        +-------------------+----------------------+--------------------------------------------+
        0                   offset                 lengthFieldEndOffset                         frame end
        |<------ InitialBytesToStrip ------>|<------------------- payload -------------------->|

        frame length = lengthFieldEndOffset + value + LengthAdjustment
        payload      = frame minus its first InitialBytesToStrip bytes (default: lengthFieldEndOffset)

        The length is checked as soon as the header is readable, before the body is buffered, so a hostile
        header costs nothing: a negative length or a payload over MaxFrameSize fails at once.
    */
    public bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out ReadOnlySequence<byte> frame)
    {
        if (buffer.Length < _lengthFieldEndOffset)
        {
            frame = default;
            return false;
        }

        long frameLength = GetFrameLength(ReadLengthField(buffer));
        if (buffer.Length < frameLength)
        {
            frame = default;
            return false;
        }

        ReadOnlySequence<byte> whole = buffer.Slice(0, frameLength);
        frame = whole.Slice(_initialBytesToStrip);
        buffer = buffer.Slice(whole.End);
        return true;
    }

    public int WriteFrame(ReadOnlySpan<byte> payload, IBufferWriter<byte> output)
    {
        if (payload.Length > MaxFrameSize)
        {
            FrameSizeErrors.ThrowPayloadTooLarge(payload.Length, MaxFrameSize);
        }

        // When the payload keeps part of the header, that part is already in it, and only the length field
        // inside it is (re)written: echoing a frame read with InitialBytesToStrip = 0 reproduces it.
        int headerBytesInPayload = _writtenHeaderLength - _initialBytesToStrip;
        if (payload.Length < headerBytesInPayload)
        {
            ThrowPayloadShorterThanHeader(payload.Length, headerBytesInPayload);
        }

        long fieldValue = (long)_initialBytesToStrip + payload.Length - _lengthFieldEndOffset - _lengthAdjustment;
        if ((ulong)fieldValue > _maxFieldValue)
        {
            ThrowFieldValueOutOfRange(fieldValue, payload.Length);
        }

        ReadOnlySpan<byte> rest = payload[headerBytesInPayload..];
        int total = _writtenHeaderLength + rest.Length;
        Span<byte> span = output.GetSpan(_writtenHeaderLength);
        Span<byte> header = span[.._writtenHeaderLength];
        header[.._initialBytesToStrip].Clear();
        payload[..headerBytesInPayload].CopyTo(header[_initialBytesToStrip..]);
        WriteLengthField(header.Slice(_lengthFieldOffset, _lengthFieldSize), (ulong)fieldValue);

        // Small frames, the common case, go out with one GetSpan/Advance pair.
        if (span.Length >= total)
        {
            rest.CopyTo(span[_writtenHeaderLength..]);
            output.Advance(total);
        }
        else
        {
            output.Advance(_writtenHeaderLength);
            output.Write(rest);
        }

        return total;
    }

    private long GetFrameLength(ulong fieldValue)
    {
        // Header sizes are bounded by MaxHeaderLength, so above uint.MaxValue the payload cannot fit in MaxFrameSize
        // whatever the adjustment; rejecting it here also keeps the long arithmetic below from overflowing.
        if (fieldValue > uint.MaxValue)
        {
            ThrowFieldValueTooLarge(fieldValue);
        }

        long bytesAfterField = (long)fieldValue + _lengthAdjustment;
        long payloadLength = _lengthFieldEndOffset + bytesAfterField - _initialBytesToStrip;

        // One unsigned compare rejects both a negative payload length and one over the limit (as Kestrel and Orleans do).
        if (bytesAfterField < 0 || (ulong)payloadLength > (ulong)MaxFrameSize)
        {
            ThrowInvalidLength(fieldValue, bytesAfterField, payloadLength);
        }

        return _lengthFieldEndOffset + bytesAfterField;
    }

    private ulong ReadLengthField(in ReadOnlySequence<byte> buffer)
    {
        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= _lengthFieldEndOffset)
        {
            return DecodeLengthField(first.Slice(_lengthFieldOffset, _lengthFieldSize));
        }

        // The header straddles segments: gather the field's few bytes on the stack.
        Span<byte> field = stackalloc byte[sizeof(ulong)];
        field = field[.._lengthFieldSize];
        var reader = new SequenceReader<byte>(buffer);
        reader.Advance(_lengthFieldOffset);
        bool copied = reader.TryCopyTo(field);
        Debug.Assert(copied, "The caller checked that the whole header is buffered.");
        return DecodeLengthField(field);
    }

    private ulong DecodeLengthField(ReadOnlySpan<byte> field) => _lengthFieldSize switch
    {
        1 => field[0],
        2 => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(field) : BinaryPrimitives.ReadUInt16LittleEndian(field),
        4 => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(field) : BinaryPrimitives.ReadUInt32LittleEndian(field),
        _ => _bigEndian ? BinaryPrimitives.ReadUInt64BigEndian(field) : BinaryPrimitives.ReadUInt64LittleEndian(field),
    };

    private void WriteLengthField(Span<byte> field, ulong value)
    {
        switch (_lengthFieldSize)
        {
            case 1:
                field[0] = (byte)value;
                break;
            case 2 when _bigEndian:
                BinaryPrimitives.WriteUInt16BigEndian(field, (ushort)value);
                break;
            case 2:
                BinaryPrimitives.WriteUInt16LittleEndian(field, (ushort)value);
                break;
            case 4 when _bigEndian:
                BinaryPrimitives.WriteUInt32BigEndian(field, (uint)value);
                break;
            case 4:
                BinaryPrimitives.WriteUInt32LittleEndian(field, (uint)value);
                break;
            default:
                if (_bigEndian)
                {
                    BinaryPrimitives.WriteUInt64BigEndian(field, value);
                }
                else
                {
                    BinaryPrimitives.WriteUInt64LittleEndian(field, value);
                }

                break;
        }
    }

    [DoesNotReturn]
    [StackTraceHidden]
    private void ThrowFieldValueTooLarge(ulong fieldValue) =>
        throw new FramingException(
            $"Frame rejected: its length field holds {fieldValue}, far over MaxFrameSize ({MaxFrameSize} bytes).");

    [DoesNotReturn]
    [StackTraceHidden]
    private void ThrowInvalidLength(ulong fieldValue, long bytesAfterField, long payloadLength)
    {
        if (bytesAfterField < 0)
        {
            throw new FramingException(
                $"Malformed frame: length field value {fieldValue} + LengthAdjustment {_lengthAdjustment} = {bytesAfterField} bytes " +
                $"after the length field, a negative frame length (payloads must be 0 to MaxFrameSize, {MaxFrameSize} bytes).");
        }

        if (payloadLength < 0)
        {
            throw new FramingException(
                $"Malformed frame: its length field value {fieldValue} gives a frame of {_lengthFieldEndOffset + bytesAfterField} bytes, " +
                $"shorter than InitialBytesToStrip ({_initialBytesToStrip}) (payloads must be 0 to MaxFrameSize, {MaxFrameSize} bytes).");
        }

        FrameSizeErrors.ThrowFrameTooLarge(payloadLength, MaxFrameSize);
    }

    [DoesNotReturn]
    [StackTraceHidden]
    private void ThrowPayloadShorterThanHeader(int payloadLength, int headerBytes) =>
        throw new FramingException(
            $"Cannot write a payload of {payloadLength} bytes: with InitialBytesToStrip {_initialBytesToStrip} the payload " +
            $"must start with the {headerBytes} header bytes up to the end of the length field.");

    [DoesNotReturn]
    [StackTraceHidden]
    private void ThrowFieldValueOutOfRange(long fieldValue, int payloadLength) =>
        throw new FramingException(
            $"Cannot write a payload of {payloadLength} bytes: its length field value would be {fieldValue} " +
            $"(LengthAdjustment {_lengthAdjustment}), outside 0..{_maxFieldValue} for a {_lengthFieldSize}-byte field (LengthFieldSize).");
}
