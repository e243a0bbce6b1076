using Gateway.Protocols.Framing;

namespace Gateway.Protocols.Tests.Framing;

/// <summary>
/// One configured codec for the tests every codec must pass. <see cref="ToPayload"/> turns arbitrary bytes into a payload
/// the codec can carry unchanged (no delimiter inside, the header a strip-0 payload keeps, the fixed length, ...).
/// </summary>
internal sealed record CodecCase(string Name, FramingOptions Options, Func<byte[], byte[]> ToPayload)
{
    public IFrameCodec Create() => FrameCodecFactory.Create(Options);

    public override string ToString() => Name;
}

internal static class CodecCases
{
    private static readonly CodecCase[] s_cases =
    [
        // The seed's "stick" module: a 2-byte big-endian length, then the body.
        new("length 2BE strip 2 (stick)", new FramingOptions { LengthFieldSize = 2 }, Identity),
        new("length 4BE (default)", new FramingOptions(), Identity),
        new("length 4LE", new FramingOptions { LengthFieldSize = 4, ByteOrder = ByteOrder.LittleEndian }, Identity),
        new("length 8LE", new FramingOptions { LengthFieldSize = 8, ByteOrder = ByteOrder.LittleEndian }, Identity),
        new("length 1", new FramingOptions { LengthFieldSize = 1 }, bytes => bytes.Take(255).ToArray()),
        // The seed's transfer.js: a 2-byte serial, a 2-byte big-endian body length, kept in the payload (strip 0).
        new("length transfer.js strip 0", new FramingOptions { LengthFieldOffset = 2, LengthFieldSize = 2, InitialBytesToStrip = 0 }, TransferJsPacket),
        // Netty: the length counts the whole frame, header included.
        new("length including header", new FramingOptions { LengthFieldSize = 2, LengthAdjustment = -2 }, Identity),
        // Netty: HDR1 | LEN | HDR2 | body, the length counting the body only, HDR1 and LEN stripped.
        new("length HDR1 LEN HDR2 strip 3", new FramingOptions { LengthFieldOffset = 1, LengthFieldSize = 2, LengthAdjustment = 1, InitialBytesToStrip = 3 }, bytes => [0xFE, .. bytes]),
        new("delimiter CRLF", new FramingOptions { Kind = FramingKind.Delimiter, Delimiter = @"\r\n" }, bytes => Replace(bytes, (byte)'\r', (byte)'r')),
        new("delimiter NUL (hex)", new FramingOptions { Kind = FramingKind.Delimiter, DelimiterHex = "00" }, bytes => Replace(bytes, 0, 1)),
        new("delimiter END kept", new FramingOptions { Kind = FramingKind.Delimiter, Delimiter = "END", StripDelimiter = false }, bytes => [.. Replace(bytes, (byte)'E', (byte)'e'), .. "END"u8]),
        new("line LF", new FramingOptions { Kind = FramingKind.Line }, NoLineEnding),
        new("line CRLF", new FramingOptions { Kind = FramingKind.Line, WriteCrLf = true }, NoLineEnding),
        new("line kept", new FramingOptions { Kind = FramingKind.Line, StripDelimiter = false }, bytes => [.. NoLineEnding(bytes), .. "\r\n"u8]),
        // The seed's "solution 1": 128-byte frames, zero-padded.
        new("fixed 128 pad 0", new FramingOptions { Kind = FramingKind.FixedLength, FrameLength = 128, PadByte = 0 }, bytes => TrimEnd(bytes.Take(128).ToArray(), 0)),
        new("fixed 16 no pad", new FramingOptions { Kind = FramingKind.FixedLength, FrameLength = 16 }, bytes => [.. bytes.Take(16), .. Enumerable.Repeat((byte)0x5A, 16 - Math.Min(16, bytes.Length))]),
    ];

    public static IReadOnlyDictionary<string, CodecCase> All { get; } = s_cases.ToDictionary(c => c.Name);

    public static TheoryData<string> Names => [.. s_cases.Select(c => c.Name)];

    public static CodecCase Get(string name) => All[name];

    /// <summary>transfer.js's packet: serial 7, then the body length, then the body.</summary>
    public static byte[] TransferJsPacket(byte[] body) =>
        [0x00, 0x07, (byte)(body.Length >> 8), (byte)body.Length, .. body];

    private static byte[] Identity(byte[] bytes) => bytes;

    private static byte[] NoLineEnding(byte[] bytes) => Replace(Replace(bytes, (byte)'\n', (byte)'n'), (byte)'\r', (byte)'r');

    private static byte[] Replace(byte[] bytes, byte from, byte to) => bytes.Select(b => b == from ? to : b).ToArray();

    private static byte[] TrimEnd(byte[] bytes, byte pad) => bytes.AsSpan().TrimEnd(pad).ToArray();
}
