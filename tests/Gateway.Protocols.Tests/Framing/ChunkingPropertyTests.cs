using FsCheck;
using FsCheck.Fluent;
using Gateway.Protocols.Framing;
using static Gateway.Protocols.Tests.Framing.CodecHarness;

namespace Gateway.Protocols.Tests.Framing;

/// <summary>Property: however TCP cuts the stream, a codec reads back exactly the payloads its writer wrote.</summary>
public class ChunkingPropertyTests
{
    private static readonly Config s_config = Config.QuickThrowOnFailure.WithMaxTest(300);

    public static TheoryData<string> Codecs => CodecCases.Names;

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Random_payloads_cut_into_random_chunks_are_read_back_exactly(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();

        Arbitrary<(byte[][] Payloads, int[] ChunkSizes)> input = Gen.Zip(PayloadLists(codecCase), ChunkSizes()).ToArbitrary();

        Check.One(codecName, s_config, Prop.ForAll(input, sample =>
        {
            byte[] wire = Encode(codec, sample.Payloads);

            List<byte[]> frames = FeedInChunks(codec, wire, sample.ChunkSizes);

            Assert.Equal(sample.Payloads, frames);
        }));
    }

    [Theory]
    [MemberData(nameof(Codecs))]
    public void Random_payloads_in_random_segments_of_one_buffer_are_read_back_exactly(string codecName)
    {
        CodecCase codecCase = CodecCases.Get(codecName);
        IFrameCodec codec = codecCase.Create();

        Arbitrary<(byte[][] Payloads, int[] ChunkSizes)> input = Gen.Zip(PayloadLists(codecCase), ChunkSizes()).ToArbitrary();

        Check.One(codecName, s_config, Prop.ForAll(input, sample =>
        {
            byte[] wire = Encode(codec, sample.Payloads);

            List<byte[]> frames = ReadAll(codec, TestSequenceSegment.CreateSequence(Cut(wire, sample.ChunkSizes)));

            Assert.Equal(sample.Payloads, frames);
        }));
    }

    private static Gen<byte[][]> PayloadLists(CodecCase codecCase)
    {
        // Mostly short payloads, sometimes long ones; bytes biased towards the ones framings care about (0, CR, LF, 'E').
        Gen<byte> interestingByte = Gen.Frequency(
            (6, Gen.Choose(0, 255).Select(i => (byte)i)),
            (1, Gen.Elements<byte>(0, (byte)'\r', (byte)'\n', (byte)'E', (byte)'N', (byte)'D')));
        Gen<byte[]> payload = Gen.Frequency(
                (8, Gen.Choose(0, 40)),
                (2, Gen.Choose(41, 600)))
            .SelectMany(length => Gen.ArrayOf(interestingByte, length))
            .Select(codecCase.ToPayload);
        return Gen.Choose(0, 12).SelectMany(count => Gen.ArrayOf(payload, count));
    }

    private static Gen<int[]> ChunkSizes() =>
        Gen.Choose(1, 8).SelectMany(count => Gen.ArrayOf(Gen.Frequency((3, Gen.Choose(1, 4)), (2, Gen.Choose(5, 200))), count));

    private static IEnumerable<ReadOnlyMemory<byte>> Cut(byte[] wire, int[] chunkSizes)
    {
        int offset = 0;
        for (int i = 0; offset < wire.Length; i++)
        {
            int size = Math.Min(chunkSizes[i % chunkSizes.Length], wire.Length - offset);
            yield return wire.AsMemory(offset, size);
            offset += size;
        }
    }
}
