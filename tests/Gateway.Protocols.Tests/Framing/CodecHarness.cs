using System.Buffers;
using System.Text;
using Gateway.Protocols.Framing;

namespace Gateway.Protocols.Tests.Framing;

/// <summary>Drives codecs the way a connection's read loop and outbox do.</summary>
internal static class CodecHarness
{
    public static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    public static string Ascii(ReadOnlySequence<byte> bytes) => Encoding.ASCII.GetString(bytes.ToArray());

    public static string Ascii(byte[] bytes) => Encoding.ASCII.GetString(bytes);

    public static byte[] Encode(IFrameCodec codec, params IEnumerable<byte[]> payloads)
    {
        var output = new ArrayBufferWriter<byte>();
        foreach (byte[] payload in payloads)
        {
            codec.WriteFrame(payload, output);
        }

        return output.WrittenSpan.ToArray();
    }

    /// <summary>Writes through a writer that hands out small spans, to exercise the writers' multi-span paths.</summary>
    public static byte[] EncodeInSmallSpans(IFrameCodec codec, int spanSize, params IEnumerable<byte[]> payloads)
    {
        var output = new SmallSpanBufferWriter(spanSize);
        foreach (byte[] payload in payloads)
        {
            codec.WriteFrame(payload, output);
        }

        return output.ToArray();
    }

    /// <summary>Reads every complete frame, checking that a false return leaves the buffer untouched.</summary>
    public static List<byte[]> ReadAll(IFrameCodec codec, ref ReadOnlySequence<byte> buffer)
    {
        var frames = new List<byte[]>();
        while (true)
        {
            ReadOnlySequence<byte> before = buffer;
            if (!codec.TryReadFrame(ref buffer, out ReadOnlySequence<byte> frame))
            {
                AssertUnchanged(before, buffer);
                return frames;
            }

            Assert.True(buffer.Length < before.Length, "A frame must consume bytes.");
            frames.Add(frame.ToArray());
        }
    }

    public static List<byte[]> ReadAll(IFrameCodec codec, ReadOnlySequence<byte> buffer, bool expectAllConsumed = true)
    {
        List<byte[]> frames = ReadAll(codec, ref buffer);
        if (expectAllConsumed)
        {
            Assert.Equal(0, buffer.Length);
        }

        return frames;
    }

    public static List<byte[]> ReadAll(IFrameCodec codec, byte[] wire) => ReadAll(codec, new ReadOnlySequence<byte>(wire));

    /// <summary>
    /// Feeds <paramref name="wire"/> in chunks of the given sizes (cycled), keeping unconsumed bytes as their original
    /// segments and appending each new chunk as a pipe does, and returns every frame read.
    /// </summary>
    public static List<byte[]> FeedInChunks(IFrameCodec codec, byte[] wire, IReadOnlyList<int> chunkSizes)
    {
        var frames = new List<byte[]>();
        var pending = new List<ReadOnlyMemory<byte>>();
        int offset = 0;
        int chunk = 0;
        while (offset < wire.Length)
        {
            int size = Math.Min(chunkSizes[chunk++ % chunkSizes.Count], wire.Length - offset);
            pending.Add(wire.AsMemory(offset, size));
            offset += size;

            ReadOnlySequence<byte> buffer = TestSequenceSegment.CreateSequence(pending);
            frames.AddRange(ReadAll(codec, ref buffer));

            pending.Clear();
            foreach (ReadOnlyMemory<byte> segment in buffer)
            {
                pending.Add(segment);
            }
        }

        Assert.True(pending.Sum(segment => segment.Length) == 0, "Bytes were left over after the last frame.");
        return frames;
    }

    public static void AssertUnchanged(ReadOnlySequence<byte> before, ReadOnlySequence<byte> after)
    {
        Assert.Equal(before.Start, after.Start);
        Assert.Equal(before.End, after.End);
    }

    /// <summary>A buffer writer that never hands out more than it must, like a nearly full pipe segment.</summary>
    private sealed class SmallSpanBufferWriter(int spanSize) : IBufferWriter<byte>
    {
        private readonly List<byte> _written = [];
        private byte[] _current = [];

        public void Advance(int count)
        {
            Assert.InRange(count, 0, _current.Length);
            _written.AddRange(_current.AsSpan(0, count));
            _current = [];
        }

        public Memory<byte> GetMemory(int sizeHint = 0)
        {
            // Fill with garbage so a writer that forgets to write a byte is caught.
            _current = new byte[Math.Max(sizeHint, spanSize)];
            Array.Fill(_current, (byte)0xEE);
            return _current;
        }

        public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public byte[] ToArray() => [.. _written];
    }
}
