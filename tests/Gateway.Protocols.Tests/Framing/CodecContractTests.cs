using System.Buffers;
using System.Runtime.InteropServices;
using Gateway.Protocols.Framing;
using static Gateway.Protocols.Tests.Framing.CodecHarness;

namespace Gateway.Protocols.Tests.Framing;

/// <summary>What every codec must do, whatever its family: the sticky and split packets of the seed documents.</summary>
public class CodecContractTests
{
    // The message the seed's client.js writes 18 times in a row.
    private const string SeedMessage = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    public static TheoryData<string> Codecs => CodecCases.Names;

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Frame_cut_at_every_split_point_is_read_once_complete(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[] payload = codecCase.ToPayload(Ascii(SeedMessage));
        byte[] wire = Encode(codec, payload);

        for (int split = 0; split < wire.Length; split++)
        {
            var prefix = new ReadOnlySequence<byte>(wire, 0, split);
            ReadOnlySequence<byte> before = prefix;
            Assert.False(codec.TryReadFrame(ref prefix, out _), $"A frame was read from the first {split} of {wire.Length} bytes.");
            AssertUnchanged(before, prefix);

            ReadOnlySequence<byte> whole = TestSequenceSegment.Split(wire, split);
            Assert.True(codec.TryReadFrame(ref whole, out ReadOnlySequence<byte> frame), $"No frame after the rest arrived (split at {split}).");
            Assert.Equal(payload, frame.ToArray());
            Assert.Equal(0, whole.Length);
        }
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void WriteFrame_returns_the_number_of_bytes_it_wrote(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        foreach (byte[] payload in new[] { codecCase.ToPayload(Ascii(SeedMessage)), codecCase.ToPayload([]) })
        {
            var output = new ArrayBufferWriter<byte>();
            output.Write("already there"u8);

            int written = codec.WriteFrame(payload, output);

            Assert.Equal(output.WrittenCount - "already there".Length, written);
        }
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Sticky_packets_in_one_read_are_split_into_every_frame(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[] payload = codecCase.ToPayload(Ascii(SeedMessage));
        byte[] wire = Encode(codec, Enumerable.Repeat(payload, 18));

        List<byte[]> frames = ReadAll(codec, wire);

        Assert.Equal(18, frames.Count);
        Assert.All(frames, frame => Assert.Equal(payload, frame));
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Frames_spread_over_one_byte_segments_are_read(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[][] payloads = [codecCase.ToPayload(Ascii(SeedMessage)), codecCase.ToPayload(Ascii("second")), codecCase.ToPayload([])];
        byte[] wire = Encode(codec, payloads);

        List<byte[]> frames = ReadAll(codec, TestSequenceSegment.OneBytePerSegment(wire));

        Assert.Equal(payloads, frames);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Frames_fed_one_byte_per_read_are_each_read_once(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[][] payloads = [codecCase.ToPayload(Ascii("first")), codecCase.ToPayload(Ascii(SeedMessage))];

        List<byte[]> frames = FeedInChunks(codec, Encode(codec, payloads), [1]);

        Assert.Equal(payloads, frames);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Empty_payload_round_trips(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[] payload = codecCase.ToPayload([]);

        List<byte[]> frames = ReadAll(codec, Encode(codec, payload, payload));

        Assert.Equal([payload, payload], frames);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Writer_output_through_small_spans_reads_back_as_the_payloads(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[][] payloads = [.. Enumerable.Range(0, 5).Select(i => codecCase.ToPayload([.. Enumerable.Range(0, 37 * i).Select(b => (byte)b)]))];

        byte[] wire = EncodeInSmallSpans(codec, spanSize: 3, payloads);

        Assert.Equal(Encode(codec, payloads), wire);
        Assert.Equal(payloads, ReadAll(codec, wire));
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Frame_is_a_slice_of_the_input_not_a_copy(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[] wire = Encode(codec, codecCase.ToPayload(Ascii(SeedMessage)));
        var buffer = new ReadOnlySequence<byte>(wire);

        Assert.True(codec.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame));

        Assert.True(MemoryMarshal.TryGetArray(frame.First, out ArraySegment<byte> segment));
        Assert.Same(wire, segment.Array);
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Partial_second_frame_stays_in_the_buffer(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[] first = Encode(codec, codecCase.ToPayload(Ascii("one")));
        byte[] second = Encode(codec, codecCase.ToPayload(Ascii(SeedMessage)));
        byte[] wire = [.. first, .. second.AsSpan(0, second.Length - 1)];
        var buffer = new ReadOnlySequence<byte>(wire);

        List<byte[]> frames = ReadAll(codec, ref buffer);

        Assert.Single(frames);
        Assert.Equal(second[..^1], buffer.ToArray());
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Reading_and_writing_frames_does_not_allocate(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();
        byte[] payload = codecCase.ToPayload(Ascii(SeedMessage));
        byte[] wire = Encode(codec, Enumerable.Repeat(payload, 18));
        ReadOnlySequence<byte> singleSegment = new(wire);
        ReadOnlySequence<byte> multiSegment = TestSequenceSegment.CreateSequence(wire.Chunk(7).Select(chunk => (ReadOnlyMemory<byte>)chunk));
        var output = new ArrayBufferWriter<byte>(wire.Length * 2);
        int frames = ReadAndWriteAll(codec, singleSegment, output) + ReadAndWriteAll(codec, multiSegment, output);

        long before = GC.GetAllocatedBytesForCurrentThread();
        frames += ReadAndWriteAll(codec, singleSegment, output) + ReadAndWriteAll(codec, multiSegment, output);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(4 * 18, frames);
        Assert.Equal(0, allocated);
    }

    private static int ReadAndWriteAll(IFrameCodec codec, ReadOnlySequence<byte> buffer, ArrayBufferWriter<byte> output)
    {
        int count = 0;
        output.ResetWrittenCount();
        Span<byte> scratch = stackalloc byte[256];
        while (codec.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame))
        {
            // The frame is a slice of the input; a real outbox copies it once, as here.
            Span<byte> payload = scratch[..(int)frame.Length];
            frame.CopyTo(payload);
            codec.WriteFrame(payload, output);
            count++;
        }

        return count;
    }
}
