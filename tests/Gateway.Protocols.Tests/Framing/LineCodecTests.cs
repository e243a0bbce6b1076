using System.Buffers;
using Gateway.Protocols.Framing;
using static Gateway.Protocols.Tests.Framing.CodecHarness;

namespace Gateway.Protocols.Tests.Framing;

public class LineCodecTests
{
    private static IFrameCodec Codec(bool strip = true, bool crlf = false, int max = FramingOptions.DefaultMaxFrameSize) =>
        FrameCodecFactory.Create(new FramingOptions { Kind = FramingKind.Line, StripDelimiter = strip, WriteCrLf = crlf, MaxFrameSize = max });

    [Fact]
    public void LF_and_CRLF_lines_are_both_read_without_their_ending()
    {
        List<byte[]> frames = ReadAll(Codec(), Ascii("unix\nwindows\r\n\n\r\n"));

        Assert.Equal(["unix", "windows", "", ""], frames.Select(Ascii));
    }

    [Fact]
    public void CR_not_directly_before_the_LF_stays_in_the_payload()
    {
        Assert.Equal("a\rb", Ascii(ReadAll(Codec(), Ascii("a\rb\n"))[0]));
    }

    [Fact]
    public void CRLF_split_between_segments_is_removed()
    {
        ReadOnlySequence<byte> buffer = TestSequenceSegment.CreateSequence(Ascii("abc\r"), Ascii("\nde"), Ascii("f\r"), Ascii("\n"));

        Assert.Equal(["abc", "def"], ReadAll(Codec(), buffer).Select(Ascii));
    }

    [Fact]
    public void Kept_line_ending_stays_in_the_payload_and_is_not_doubled_on_echo()
    {
        IFrameCodec codec = Codec(strip: false);

        List<byte[]> frames = ReadAll(codec, TestSequenceSegment.CreateSequence(Ascii("a\r"), Ascii("\nb\n")));

        Assert.Equal(["a\r\n", "b\n"], frames.Select(Ascii));
        Assert.Equal("a\r\nb\n", Ascii(Encode(codec, frames)));
    }

    [Fact]
    public void Writer_ends_lines_with_LF_by_default_and_CRLF_when_asked()
    {
        Assert.Equal("hi\n", Ascii(Encode(Codec(), Ascii("hi"))));
        Assert.Equal("hi\r\n", Ascii(Encode(Codec(crlf: true), Ascii("hi"))));
    }

    [Fact]
    public void Writer_refuses_a_payload_with_a_line_feed()
    {
        var error = Assert.Throws<FramingException>(() => Encode(Codec(), Ascii("two\nlines")));

        Assert.Contains("line feed", error.Message);
    }

    [Fact]
    public void Writer_refuses_a_final_CR_that_would_merge_into_the_LF_but_keeps_it_with_CRLF()
    {
        Assert.Throws<FramingException>(() => Encode(Codec(), Ascii("x\r")));

        IFrameCodec crlf = Codec(crlf: true);
        Assert.Equal("x\r", Ascii(ReadAll(crlf, Encode(crlf, Ascii("x\r")))[0]));
    }

    [Fact]
    public void Line_of_exactly_MaxFrameSize_is_accepted()
    {
        IFrameCodec codec = Codec(max: 10);

        Assert.Equal("0123456789", Ascii(ReadAll(codec, Ascii("0123456789\r\n"))[0]));
        Assert.Equal("0123456789", Ascii(ReadAll(codec, TestSequenceSegment.OneBytePerSegment(Ascii("0123456789\r\n")))[0]));
        Assert.Equal("0123456789\n", Ascii(Encode(codec, Ascii("0123456789"))));
    }

    [Fact]
    public void Line_of_MaxFrameSize_plus_one_is_rejected()
    {
        IFrameCodec codec = Codec(max: 10);
        var single = new ReadOnlySequence<byte>(Ascii("0123456789A\n"));
        ReadOnlySequence<byte> segmented = TestSequenceSegment.OneBytePerSegment(Ascii("0123456789A\r\n"));

        Assert.Contains("MaxFrameSize", Assert.Throws<FramingException>(() => codec.TryReadFrame(ref single, out _)).Message);
        Assert.Throws<FramingException>(() => codec.TryReadFrame(ref segmented, out _));
        Assert.Throws<FramingException>(() => Encode(codec, Ascii("0123456789A")));
    }

    [Fact]
    public void Endless_line_is_rejected_once_it_exceeds_MaxFrameSize()
    {
        IFrameCodec codec = Codec(max: 10);
        var justUnder = new ReadOnlySequence<byte>(Ascii("0123456789\r\r"));
        ReadOnlySequence<byte> over = TestSequenceSegment.CreateSequence(Ascii("0123456"), Ascii("789ABC"));

        Assert.False(codec.TryReadFrame(ref justUnder, out _));
        var error = Assert.Throws<FramingException>(() => codec.TryReadFrame(ref over, out _));
        Assert.Contains("MaxFrameSize", error.Message);
    }
}
