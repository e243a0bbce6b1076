using System.Buffers;
using Gateway.Protocols.Framing;
using static Gateway.Protocols.Tests.Framing.CodecHarness;

namespace Gateway.Protocols.Tests.Framing;

public class DelimiterCodecTests
{
    private static IFrameCodec Codec(string delimiter = @"\r\n", bool strip = true, int max = FramingOptions.DefaultMaxFrameSize) =>
        FrameCodecFactory.Create(new FramingOptions { Kind = FramingKind.Delimiter, Delimiter = delimiter, StripDelimiter = strip, MaxFrameSize = max });

    [Fact]
    public void Multi_byte_delimiter_split_across_segments_is_found()
    {
        ReadOnlySequence<byte> buffer = TestSequenceSegment.CreateSequence(Ascii("one\r"), Ascii("\ntwo\r\n"));

        List<byte[]> frames = ReadAll(Codec(), buffer);

        Assert.Equal(["one", "two"], frames.Select(Ascii));
    }

    [Fact]
    public void Partial_delimiter_inside_the_content_does_not_end_the_frame()
    {
        List<byte[]> frames = ReadAll(Codec("END"), Ascii("xxENxEENDyyEND"));

        Assert.Equal(["xxENxE", "yy"], frames.Select(Ascii));
    }

    [Fact]
    public void Kept_delimiter_stays_in_the_payload_and_is_not_doubled_on_echo()
    {
        IFrameCodec codec = Codec(strip: false);
        byte[] wire = Ascii("ping\r\n");

        byte[] frame = ReadAll(codec, wire)[0];

        Assert.Equal("ping\r\n", Ascii(frame));
        Assert.Equal(wire, Encode(codec, frame));
        Assert.Equal(wire, Encode(codec, Ascii("ping")));
    }

    [Fact]
    public void Writer_appends_the_delimiter()
    {
        Assert.Equal("a|b||", Ascii(Encode(Codec("|"), Ascii("a"), Ascii("b"), [])));
    }

    [Fact]
    public void Writer_refuses_a_payload_that_contains_the_delimiter()
    {
        var error = Assert.Throws<FramingException>(() => Encode(Codec(), Ascii("one\r\ntwo")));

        Assert.Contains("delimiter", error.Message);
    }

    [Fact]
    public void Writer_refuses_a_payload_whose_end_would_form_the_delimiter_with_it()
    {
        // "AB" + "ABA" reads as "ABABA": the first "ABA" starts inside the payload.
        Assert.Throws<FramingException>(() => Encode(Codec("ABA"), Ascii("xAB")));
        Assert.Equal("xBABA", Ascii(Encode(Codec("ABA"), Ascii("xB"))));
    }

    [Fact]
    public void Payload_of_exactly_MaxFrameSize_is_accepted()
    {
        IFrameCodec codec = Codec(max: 10);

        Assert.Equal("0123456789", Ascii(ReadAll(codec, Ascii("0123456789\r\n"))[0]));
        Assert.Equal("0123456789\r\n", Ascii(Encode(codec, Ascii("0123456789"))));
    }

    [Fact]
    public void Payload_of_MaxFrameSize_plus_one_is_rejected()
    {
        IFrameCodec codec = Codec(max: 10);
        var buffer = new ReadOnlySequence<byte>(Ascii("0123456789A\r\n"));

        var error = Assert.Throws<FramingException>(() => codec.TryReadFrame(ref buffer, out _));

        Assert.Contains("MaxFrameSize", error.Message);
        Assert.Throws<FramingException>(() => Encode(codec, Ascii("0123456789A")));
    }

    [Fact]
    public void Kept_delimiter_counts_towards_MaxFrameSize()
    {
        IFrameCodec codec = Codec(strip: false, max: 10);

        Assert.Equal("01234567\r\n", Ascii(ReadAll(codec, Ascii("01234567\r\n"))[0]));
        var buffer = TestSequenceSegment.CreateSequence(Ascii("012345678\r"), Ascii("\n"));
        Assert.Throws<FramingException>(() => codec.TryReadFrame(ref buffer, out _));
        Assert.Throws<FramingException>(() => Encode(codec, Ascii("012345678")));
    }

    [Fact]
    public void Endless_input_without_a_delimiter_is_rejected_once_it_exceeds_MaxFrameSize()
    {
        IFrameCodec codec = Codec(max: 10);
        var justUnder = new ReadOnlySequence<byte>(new byte[12]);
        ReadOnlySequence<byte> over = TestSequenceSegment.CreateSequence(new byte[6], new byte[7]);

        Assert.False(codec.TryReadFrame(ref justUnder, out _));
        var error = Assert.Throws<FramingException>(() => codec.TryReadFrame(ref over, out _));
        Assert.Contains("MaxFrameSize", error.Message);
    }

    [Fact]
    public void Hex_delimiter_frames_binary_payloads()
    {
        IFrameCodec codec = FrameCodecFactory.Create(new FramingOptions { Kind = FramingKind.Delimiter, DelimiterHex = "7E 7E" });

        List<byte[]> frames = ReadAll(codec, TestSequenceSegment.OneBytePerSegment([0x01, 0x7E, 0x02, 0x7E, 0x7E, 0x7E, 0x7E]));

        Assert.Equal([[0x01, 0x7E, 0x02], []], frames);
    }
}
