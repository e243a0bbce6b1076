using System.Buffers;
using Gateway.Protocols.Framing;
using static Gateway.Protocols.Tests.Framing.CodecHarness;

namespace Gateway.Protocols.Tests.Framing;

public class LengthFieldCodecTests
{
    private static readonly byte[] Hello = Ascii("HELLO, WORLD");

    private static IFrameCodec Codec(int offset = 0, int size = 2, int adjustment = 0, int? strip = null, int max = FramingOptions.DefaultMaxFrameSize, ByteOrder order = ByteOrder.BigEndian) =>
        FrameCodecFactory.Create(new FramingOptions
        {
            LengthFieldOffset = offset,
            LengthFieldSize = size,
            LengthAdjustment = adjustment,
            InitialBytesToStrip = strip,
            MaxFrameSize = max,
            ByteOrder = order,
        });

    // The examples of Netty's LengthFieldBasedFrameDecoder javadoc (3-byte fields replaced by 2-byte ones).
    public static TheoryData<string, IFrameCodec, byte[], byte[]> NettyExamples => new()
    {
        { "2-byte length, strip 0", Codec(strip: 0), [0x00, 0x0C, .. Hello], [0x00, 0x0C, .. Hello] },
        { "2-byte length, strip 2", Codec(strip: 2), [0x00, 0x0C, .. Hello], Hello },
        { "length includes the header", Codec(adjustment: -2, strip: 0), [0x00, 0x0E, .. Hello], [0x00, 0x0E, .. Hello] },
        { "length at the end of the header", Codec(offset: 2, strip: 0), [0xCA, 0xFE, 0x00, 0x0C, .. Hello], [0xCA, 0xFE, 0x00, 0x0C, .. Hello] },
        { "length at the start of the header", Codec(adjustment: 2, strip: 0), [0x00, 0x0C, 0xCA, 0xFE, .. Hello], [0x00, 0x0C, 0xCA, 0xFE, .. Hello] },
        { "HDR1 + length, strip 3", Codec(offset: 1, adjustment: 1, strip: 3), [0xCA, 0x00, 0x0C, 0xFE, .. Hello], [0xFE, .. Hello] },
        { "HDR1 + length of the whole frame, strip 3", Codec(offset: 1, adjustment: -3, strip: 3), [0xCA, 0x00, 0x10, 0xFE, .. Hello], [0xFE, .. Hello] },
    };

    [Theory]
    [MemberData(nameof(NettyExamples))]
    public void Netty_javadoc_examples_decode_as_documented(string example, IFrameCodec codec, byte[] wire, byte[] expectedPayload)
    {
        List<byte[]> frames = ReadAll(codec, wire);

        Assert.True(frames.Count == 1, example);
        Assert.Equal(expectedPayload, frames[0]);
    }

    [Theory]
    [MemberData(nameof(NettyExamples))]
    public void Netty_javadoc_examples_encode_back_with_stripped_bytes_zeroed(string example, IFrameCodec codec, byte[] wire, byte[] payload)
    {
        byte[] expected = (byte[])wire.Clone();
        int stripped = wire.Length - payload.Length;
        for (int i = 0; i < stripped; i++)
        {
            // Stripped bytes other than the length field are not known to the writer; it writes zeros.
            bool inLengthField = example.Contains("HDR1") ? i is 1 or 2 : i < 2;
            if (!inLengthField)
            {
                expected[i] = 0;
            }
        }

        Assert.Equal(expected, Encode(codec, payload));
    }

    [Fact]
    public void Stick_module_packets_have_a_two_byte_big_endian_length_header()
    {
        IFrameCodec codec = Codec(size: 2);
        byte[] message = Ascii("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");

        byte[] wire = Encode(codec, message);

        Assert.Equal([0x00, 0x40, .. message], wire);
    }

    [Fact]
    public void Transfer_js_echo_with_strip_0_preserves_the_serial_number()
    {
        IFrameCodec codec = Codec(offset: 2, size: 2, strip: 0);
        byte[] packet = CodecCases.TransferJsPacket(Ascii("hello"));
        Assert.Equal(new byte[] { 0x00, 0x07, 0x00, 0x05 }, packet[..4]);

        List<byte[]> frames = ReadAll(codec, packet);
        byte[] echoed = Encode(codec, frames[0]);

        Assert.Equal(packet, echoed);
    }

    [Fact]
    public void Writer_sets_the_length_field_inside_a_payload_that_keeps_its_header()
    {
        IFrameCodec codec = Codec(offset: 2, size: 2, strip: 0);
        // A reply built from the request's header with a new body: the length field still says 5.
        byte[] reply = [0x00, 0x07, 0x00, 0x05, .. Ascii("a longer reply")];

        byte[] wire = Encode(codec, reply);

        Assert.Equal([0x00, 0x07, 0x00, 0x0E, .. Ascii("a longer reply")], wire);
        Assert.Equal(wire, ReadAll(codec, wire)[0]);
    }

    [Fact]
    public void Writer_refuses_a_payload_too_short_to_hold_the_header_it_keeps()
    {
        IFrameCodec codec = Codec(offset: 2, size: 2, strip: 0);

        var error = Assert.Throws<FramingException>(() => Encode(codec, [0x00, 0x07, 0x00]));
        Assert.Contains("InitialBytesToStrip", error.Message);
    }

    public static TheoryData<int, ByteOrder, byte[]> LengthFieldEncodings => new()
    {
        { 1, ByteOrder.BigEndian, [0x05] },
        { 1, ByteOrder.LittleEndian, [0x05] },
        { 2, ByteOrder.BigEndian, [0x00, 0x05] },
        { 2, ByteOrder.LittleEndian, [0x05, 0x00] },
        { 4, ByteOrder.BigEndian, [0x00, 0x00, 0x00, 0x05] },
        { 4, ByteOrder.LittleEndian, [0x05, 0x00, 0x00, 0x00] },
        { 8, ByteOrder.BigEndian, [0, 0, 0, 0, 0, 0, 0, 0x05] },
        { 8, ByteOrder.LittleEndian, [0x05, 0, 0, 0, 0, 0, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(LengthFieldEncodings))]
    public void Length_field_of_each_size_and_byte_order_is_written_and_read(int size, ByteOrder order, byte[] expectedField)
    {
        IFrameCodec codec = Codec(size: size, order: order);

        byte[] wire = Encode(codec, Ascii("hello"));

        Assert.Equal([.. expectedField, .. Ascii("hello")], wire);
        Assert.Equal("hello", Ascii(ReadAll(codec, wire)[0]));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(4)]
    [InlineData(8)]
    public void Length_field_is_read_when_it_straddles_segments(int size)
    {
        IFrameCodec codec = Codec(offset: 1, size: size, strip: 1 + size, order: ByteOrder.LittleEndian);
        byte[] wire = Encode(codec, Ascii("straddle"));

        for (int split = 1; split < 1 + size; split++)
        {
            Assert.Equal("straddle", Ascii(ReadAll(codec, TestSequenceSegment.Split(wire, split))[0]));
        }
    }

    [Fact]
    public void Zero_length_value_is_an_empty_frame()
    {
        List<byte[]> frames = ReadAll(Codec(), [0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xAA]);

        Assert.Equal([[], [], [0xAA]], frames);
    }

    [Fact]
    public void Payload_of_exactly_MaxFrameSize_is_accepted()
    {
        IFrameCodec codec = Codec(max: 10);
        byte[] wire = [0x00, 0x0A, .. new byte[10]];

        Assert.Equal(10, ReadAll(codec, wire)[0].Length);
        Assert.Equal(wire, Encode(codec, new byte[10]));
    }

    [Fact]
    public void Payload_of_MaxFrameSize_plus_one_is_rejected_as_soon_as_the_header_is_readable()
    {
        IFrameCodec codec = Codec(max: 10);
        var headerOnly = new ReadOnlySequence<byte>([0x00, 0x0B]);

        var error = Assert.Throws<FramingException>(() => codec.TryReadFrame(ref headerOnly, out _));

        Assert.Contains("MaxFrameSize", error.Message);
        Assert.Contains("11", error.Message);
        Assert.Contains("10", error.Message);
    }

    [Fact]
    public void Incomplete_header_waits_even_when_the_first_bytes_promise_a_huge_frame()
    {
        IFrameCodec codec = Codec(size: 4, max: 10);
        var partialHeader = new ReadOnlySequence<byte>([0xFF, 0xFF, 0xFF]);

        Assert.False(codec.TryReadFrame(ref partialHeader, out _));
    }

    [Fact]
    public void Writer_refuses_a_payload_over_MaxFrameSize()
    {
        var error = Assert.Throws<FramingException>(() => Encode(Codec(max: 10), new byte[11]));

        Assert.Contains("MaxFrameSize", error.Message);
    }

    [Fact]
    public void Eight_byte_value_over_MaxFrameSize_is_rejected_without_overflow()
    {
        IFrameCodec codec = Codec(size: 8, adjustment: int.MaxValue);
        var header = new ReadOnlySequence<byte>([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);

        var error = Assert.Throws<FramingException>(() => codec.TryReadFrame(ref header, out _));

        Assert.Contains("MaxFrameSize", error.Message);
    }

    [Fact]
    public void Four_byte_value_with_the_top_bit_set_is_too_large_not_negative()
    {
        IFrameCodec codec = Codec(size: 4);
        var header = new ReadOnlySequence<byte>([0x80, 0x00, 0x00, 0x00]);

        var error = Assert.Throws<FramingException>(() => codec.TryReadFrame(ref header, out _));

        Assert.Contains("2147483648 bytes exceeds MaxFrameSize", error.Message);
    }

    [Fact]
    public void Negative_length_after_adjustment_is_malformed()
    {
        // The length is meant to include its own 2 bytes, so a value of 1 would end the frame inside its header.
        IFrameCodec codec = Codec(adjustment: -2, strip: 0);
        var header = new ReadOnlySequence<byte>([0x00, 0x01]);

        var error = Assert.Throws<FramingException>(() => codec.TryReadFrame(ref header, out _));

        Assert.Contains("negative", error.Message);
        Assert.Contains("LengthAdjustment", error.Message);
    }

    [Fact]
    public void Frame_shorter_than_InitialBytesToStrip_is_malformed()
    {
        IFrameCodec codec = Codec(strip: 5);
        var header = new ReadOnlySequence<byte>([0x00, 0x01]);

        var error = Assert.Throws<FramingException>(() => codec.TryReadFrame(ref header, out _));

        Assert.Contains("InitialBytesToStrip", error.Message);
    }

    [Fact]
    public void Writer_refuses_a_length_that_does_not_fit_the_field()
    {
        var error = Assert.Throws<FramingException>(() => Encode(Codec(size: 1), new byte[256]));

        Assert.Contains("LengthFieldSize", error.Message);
        Assert.Contains("256", error.Message);
    }

    [Fact]
    public void Writer_refuses_a_payload_whose_length_value_would_be_negative()
    {
        // Three header bytes follow the length field and are counted by the adjustment, so a payload needs at least 3.
        IFrameCodec codec = Codec(adjustment: 3);

        Assert.Throws<FramingException>(() => Encode(codec, [0x01, 0x02]));
        Assert.Equal([0x00, 0x00, 0x01, 0x02, 0x03], Encode(codec, [0x01, 0x02, 0x03]));
    }

    [Fact]
    public void Stripping_past_the_length_field_writes_zeros_for_the_stripped_body_bytes()
    {
        IFrameCodec codec = Codec(strip: 4);

        byte[] wire = Encode(codec, Ascii("abc"));

        Assert.Equal([0x00, 0x05, 0x00, 0x00, .. Ascii("abc")], wire);
        Assert.Equal("abc", Ascii(ReadAll(codec, wire)[0]));
    }
}
