using Gateway.Protocols.Framing;

namespace Gateway.Protocols.Tests.Framing;

public class FrameCodecFactoryTests
{
    [Fact]
    public void Default_options_are_a_valid_four_byte_length_field()
    {
        Assert.Empty(FrameCodecFactory.Validate(new FramingOptions()));
        Assert.IsType<LengthFieldCodec>(FrameCodecFactory.Create(new FramingOptions()));
    }

    [Theory]
    [InlineData(FramingKind.Delimiter, typeof(DelimiterCodec))]
    [InlineData(FramingKind.Line, typeof(LineCodec))]
    [InlineData(FramingKind.FixedLength, typeof(FixedLengthCodec))]
    public void Creates_the_codec_of_each_kind(FramingKind kind, Type expected)
    {
        var options = new FramingOptions { Kind = kind, Delimiter = "|", FrameLength = 8, MaxFrameSize = 64 };

        IFrameCodec codec = FrameCodecFactory.Create(options);

        Assert.IsType(expected, codec);
        Assert.Equal(64, codec.MaxFrameSize);
    }

    [Fact]
    public void Create_names_the_offending_setting()
    {
        var error = Assert.Throws<ArgumentException>(() => FrameCodecFactory.Create(new FramingOptions { LengthFieldSize = 3 }));

        Assert.Contains("Framing:LengthFieldSize must be 1, 2, 4 or 8 (was 3)", error.Message);
    }

    [Fact]
    public void Validate_reports_every_error_at_once()
    {
        var options = new FramingOptions { MaxFrameSize = 0, LengthFieldOffset = -1, LengthFieldSize = 3, InitialBytesToStrip = -2, ByteOrder = (ByteOrder)9 };

        IReadOnlyList<string> errors = FrameCodecFactory.Validate(options);

        Assert.Collection(
            errors,
            e => Assert.Equal("Framing:MaxFrameSize must be greater than 0 (was 0)", e),
            e => Assert.StartsWith("Framing:LengthFieldOffset must be between 0 and 65535 (was -1)", e),
            e => Assert.StartsWith("Framing:LengthFieldSize", e),
            e => Assert.StartsWith("Framing:ByteOrder", e),
            e => Assert.StartsWith("Framing:InitialBytesToStrip must be between 0 and 65535 (was -2)", e));
        var thrown = Assert.Throws<ArgumentException>(() => FrameCodecFactory.Create(options));
        Assert.All(errors, e => Assert.Contains(e, thrown.Message));
    }

    [Fact]
    public void Unknown_kind_is_rejected()
    {
        Assert.Contains("Framing:Kind", Assert.Single(FrameCodecFactory.Validate(new FramingOptions { Kind = (FramingKind)42 })));
    }

    [Fact]
    public void Kept_header_larger_than_MaxFrameSize_is_rejected()
    {
        var options = new FramingOptions { LengthFieldOffset = 10, LengthFieldSize = 4, InitialBytesToStrip = 0, MaxFrameSize = 8 };

        Assert.Contains("14 header bytes", Assert.Single(FrameCodecFactory.Validate(options)));
    }

    [Theory]
    [InlineData(null, null, "Framing:Delimiter or Framing:DelimiterHex is required")]
    [InlineData("", "  ", "Framing:Delimiter or Framing:DelimiterHex is required")]
    [InlineData("|", "7C", "both set")]
    [InlineData(@"\q", null, @"unknown escape '\q'")]
    [InlineData(@"ab\", null, "lone")]
    [InlineData(@"\x4", null, "two hexadecimal digits")]
    [InlineData(null, "0D0", "even number")]
    [InlineData(null, "0G", "only hexadecimal digits")]
    public void Invalid_delimiter_settings_are_rejected(string? delimiter, string? hex, string expected)
    {
        var options = new FramingOptions { Kind = FramingKind.Delimiter, Delimiter = delimiter, DelimiterHex = hex };

        Assert.Contains(expected, Assert.Single(FrameCodecFactory.Validate(options)));
    }

    [Theory]
    [InlineData(@"\r\n", new byte[] { 0x0D, 0x0A })]
    [InlineData(@"\t\0\\", new byte[] { 0x09, 0x00, 0x5C })]
    [InlineData(@"\x1F|\xff", new byte[] { 0x1F, 0x7C, 0xFF })]
    [InlineData("é", new byte[] { 0xC3, 0xA9 })]
    [InlineData("\r\n", new byte[] { 0x0D, 0x0A })]
    public void Delimiter_text_escapes_are_decoded(string text, byte[] expected)
    {
        var codec = (DelimiterCodec)FrameCodecFactory.Create(new FramingOptions { Kind = FramingKind.Delimiter, Delimiter = text });

        Assert.Equal(expected, codec.Delimiter.ToArray());
    }

    [Theory]
    [InlineData("0d0a", new byte[] { 0x0D, 0x0A })]
    [InlineData("0D 0A", new byte[] { 0x0D, 0x0A })]
    [InlineData("00", new byte[] { 0x00 })]
    public void Delimiter_hex_is_decoded(string hex, byte[] expected)
    {
        var codec = (DelimiterCodec)FrameCodecFactory.Create(new FramingOptions { Kind = FramingKind.Delimiter, DelimiterHex = hex });

        Assert.Equal(expected, codec.Delimiter.ToArray());
    }

    [Fact]
    public void Kept_delimiter_longer_than_MaxFrameSize_is_rejected()
    {
        var options = new FramingOptions { Kind = FramingKind.Delimiter, Delimiter = "END", StripDelimiter = false, MaxFrameSize = 2 };

        Assert.Contains("Framing:MaxFrameSize (2)", Assert.Single(FrameCodecFactory.Validate(options)));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-5)]
    public void Fixed_length_needs_a_positive_FrameLength(int frameLength)
    {
        var options = new FramingOptions { Kind = FramingKind.FixedLength, FrameLength = frameLength };

        Assert.Equal($"Framing:FrameLength must be greater than 0 when Framing:Kind is FixedLength (was {frameLength})", Assert.Single(FrameCodecFactory.Validate(options)));
    }
}
