using System.Buffers;

namespace Gateway.Protocols.Tests;

/// <summary>A segment of a hand-built multi-segment <see cref="ReadOnlySequence{T}"/>, as in Bedrock's ProtocolTests.</summary>
internal sealed class TestSequenceSegment : ReadOnlySequenceSegment<byte>
{
    public TestSequenceSegment(ReadOnlyMemory<byte> memory) => Memory = memory;

    public TestSequenceSegment Append(ReadOnlyMemory<byte> memory)
    {
        var next = new TestSequenceSegment(memory) { RunningIndex = RunningIndex + Memory.Length };
        Next = next;
        return next;
    }

    /// <summary>One segment per chunk, in order. Each chunk is copied into its own array so reads past a segment would show.</summary>
    public static ReadOnlySequence<byte> CreateSequence(params IEnumerable<ReadOnlyMemory<byte>> chunks)
    {
        TestSequenceSegment? first = null;
        TestSequenceSegment? last = null;
        foreach (ReadOnlyMemory<byte> chunk in chunks)
        {
            ReadOnlyMemory<byte> copy = chunk.ToArray();
            last = last is null ? first = new TestSequenceSegment(copy) : last.Append(copy);
        }

        return first is null ? ReadOnlySequence<byte>.Empty : new ReadOnlySequence<byte>(first, 0, last!, last!.Memory.Length);
    }

    public static ReadOnlySequence<byte> CreateSequence(params byte[][] chunks) =>
        CreateSequence(chunks.Select(chunk => (ReadOnlyMemory<byte>)chunk));

    /// <summary>Every byte in a segment of its own: the worst case a reader can meet.</summary>
    public static ReadOnlySequence<byte> OneBytePerSegment(byte[] data) =>
        CreateSequence(data.Select(b => (ReadOnlyMemory<byte>)new[] { b }));

    /// <summary>Two segments cut at <paramref name="splitAt"/>.</summary>
    public static ReadOnlySequence<byte> Split(byte[] data, int splitAt) =>
        CreateSequence(data.AsMemory(0, splitAt), data.AsMemory(splitAt));
}
