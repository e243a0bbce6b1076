using Gateway.Protocols.Framing;
using static Gateway.Protocols.Tests.Framing.CodecHarness;

namespace Gateway.Protocols.Tests.Framing;

public class FixedLengthCodecTests
{
    private const string SeedMessage = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    private static IFrameCodec Codec(int frameLength, byte? pad = null, int max = FramingOptions.DefaultMaxFrameSize) =>
        FrameCodecFactory.Create(new FramingOptions { Kind = FramingKind.FixedLength, FrameLength = frameLength, PadByte = pad, MaxFrameSize = max });

    [Fact]
    public void Seed_solution_1_zero_padded_128_byte_frames_are_read_as_the_messages()
    {
        // client.js: 18 x Buffer.alloc(128).fill(msg, 0, msg.length), which TCP may deliver in one read.
        byte[] packet = new byte[128];
        Ascii(SeedMessage).CopyTo(packet, 0);
        byte[] wire = [.. Enumerable.Repeat(packet, 18).SelectMany(p => p)];

        List<byte[]> frames = ReadAll(Codec(128, pad: 0), wire);

        Assert.Equal(18, frames.Count);
        Assert.All(frames, frame => Assert.Equal(SeedMessage, Ascii(frame)));
        Assert.Equal(wire, Encode(Codec(128, pad: 0), Enumerable.Repeat(Ascii(SeedMessage), 18)));
    }

    [Fact]
    public void Without_a_pad_byte_frames_are_returned_whole()
    {
        List<byte[]> frames = ReadAll(Codec(4), [1, 0, 0, 0, 2, 0, 0, 0]);

        Assert.Equal([[1, 0, 0, 0], [2, 0, 0, 0]], frames);
    }

    [Fact]
    public void Padding_is_trimmed_across_segments_but_not_inside_the_payload()
    {
        byte[] wire = [.. Ascii("a  b"), .. Enumerable.Repeat((byte)' ', 12)];

        Assert.Equal("a  b", Ascii(ReadAll(Codec(16, pad: (byte)' '), TestSequenceSegment.OneBytePerSegment(wire))[0]));
        Assert.Equal("a  b", Ascii(ReadAll(Codec(16, pad: (byte)' '), TestSequenceSegment.Split(wire, 6))[0]));
    }

    [Fact]
    public void Frame_of_only_padding_is_an_empty_payload()
    {
        Assert.Equal([[]], ReadAll(Codec(8, pad: 0xFF), TestSequenceSegment.Split(Enumerable.Repeat((byte)0xFF, 8).ToArray(), 3)));
    }

    [Fact]
    public void Writer_pads_a_short_payload_with_the_pad_byte()
    {
        Assert.Equal("ab......", Ascii(Encode(Codec(8, pad: (byte)'.'), Ascii("ab"))));
        Assert.Equal("ab......", Ascii(EncodeInSmallSpans(Codec(8, pad: (byte)'.'), spanSize: 3, Ascii("ab"))));
    }

    [Fact]
    public void Writer_without_a_pad_byte_refuses_a_payload_of_another_length()
    {
        IFrameCodec codec = Codec(8);

        var error = Assert.Throws<FramingException>(() => Encode(codec, Ascii("short")));
        Assert.Contains("FrameLength", error.Message);
        Assert.Throws<FramingException>(() => Encode(codec, Ascii("too long!")));
        Assert.Equal("exactly8", Ascii(Encode(codec, Ascii("exactly8"))));
    }

    [Fact]
    public void Writer_refuses_a_payload_longer_than_the_frame_even_with_padding()
    {
        Assert.Throws<FramingException>(() => Encode(Codec(8, pad: 0), Ascii("123456789")));
    }

    [Fact]
    public void Frame_length_of_exactly_MaxFrameSize_is_accepted_and_one_more_is_rejected()
    {
        IFrameCodec codec = Codec(10, max: 10);
        Assert.Equal(new byte[10], ReadAll(codec, new byte[10])[0]);

        var error = Assert.Throws<ArgumentException>(() => Codec(11, max: 10));
        Assert.Contains("Framing:FrameLength (11) must not exceed Framing:MaxFrameSize (10)", error.Message);
    }
}
