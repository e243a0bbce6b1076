namespace Gateway.Protocols.Framing;

/// <summary>The framing families, after Netty's decoders.</summary>
public enum FramingKind
{
    LengthField,
    Delimiter,
    Line,
    FixedLength,
}

/// <summary>Byte order of a length field.</summary>
public enum ByteOrder
{
    BigEndian,
    LittleEndian,
}

/// <summary>
/// Bindable description of one framing; <see cref="FrameCodecFactory.Create"/> validates it and builds the codec.
/// Property names are the configuration keys under an endpoint's <c>Framing</c> section.
/// </summary>
public sealed class FramingOptions
{
    /// <summary>Default for <see cref="MaxFrameSize"/>: 1,048,576 bytes (1 MiB).</summary>
    public const int DefaultMaxFrameSize = 1024 * 1024;

    /// <summary>Upper bound of <see cref="LengthFieldOffset"/> and <see cref="InitialBytesToStrip"/>: 65,535 bytes, so a typo cannot make every frame reserve megabytes.</summary>
    public const int MaxHeaderLength = 65_535;

    /// <summary>Which framing family to use. Defaults to <see cref="FramingKind.LengthField"/>.</summary>
    public FramingKind Kind { get; set; } = FramingKind.LengthField;

    /// <summary>Largest payload accepted or written. Defaults to 1,048,576 bytes.</summary>
    public int MaxFrameSize { get; set; } = DefaultMaxFrameSize;

    // LengthField: the wire layout and semantics of Netty's LengthFieldBasedFrameDecoder.
    /// <summary>Bytes before the length field, 0 to <see cref="MaxHeaderLength"/>. Defaults to 0.</summary>
    public int LengthFieldOffset { get; set; }
    /// <summary>Size of the length field: 1, 2, 4 or 8. Defaults to 4.</summary>
    public int LengthFieldSize { get; set; } = 4;
    /// <summary>Byte order of the length field. Defaults to <see cref="ByteOrder.BigEndian"/> (network order).</summary>
    public ByteOrder ByteOrder { get; set; } = ByteOrder.BigEndian;
    /// <summary>Added to the length field's value to get the number of bytes that follow the length field. Defaults to 0.</summary>
    public int LengthAdjustment { get; set; }
    /// <summary>
    /// Bytes removed from the front of each frame before it becomes the payload, 0 to <see cref="MaxHeaderLength"/>.
    /// Defaults to the end of the length field (the whole header). When it is smaller than that, the payload keeps
    /// the rest of the header and the writer expects it there.
    /// </summary>
    public int? InitialBytesToStrip { get; set; }

    // Delimiter
    /// <summary>The delimiter as text (escape sequences \r \n \t \0 \\ and \xHH are understood). Used when <see cref="DelimiterHex"/> is not set.</summary>
    public string? Delimiter { get; set; }
    /// <summary>The delimiter as hexadecimal bytes, for example "0D0A". Set either this or <see cref="Delimiter"/>, not both.</summary>
    public string? DelimiterHex { get; set; }

    // Line
    /// <summary>For <see cref="FramingKind.Line"/>: whether written frames end in CRLF rather than LF. Reading accepts both.</summary>
    public bool WriteCrLf { get; set; }

    // Delimiter and Line
    /// <summary>
    /// Whether the delimiter (for <see cref="FramingKind.Line"/>, the LF or CRLF) is removed from the payload. Defaults to true.
    /// When false, payloads keep it, and the writer appends one only to a payload that does not already end with it.
    /// </summary>
    public bool StripDelimiter { get; set; } = true;

    // FixedLength
    /// <summary>Frame length in bytes for <see cref="FramingKind.FixedLength"/>: greater than 0 and at most <see cref="MaxFrameSize"/>.</summary>
    public int FrameLength { get; set; }
    /// <summary>For fixed length: a padding byte trimmed from the end of each frame on read and used to fill short payloads on write.
    /// Null means no trimming, and short payloads are refused. A payload's own trailing pad bytes are trimmed too: they are indistinguishable from padding.
    /// </summary>
    public byte? PadByte { get; set; }
}
