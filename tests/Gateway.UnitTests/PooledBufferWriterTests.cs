namespace Gateway.UnitTests;

/// <summary>A pooled buffer holds no array until written to and none after it is released; what it holds survives its growth.</summary>
public sealed class PooledBufferWriterTests
{
    private static byte[] Bytes(int start, int count) => Enumerable.Range(start, count).Select(i => (byte)i).ToArray();

    [Fact]
    public void A_new_writer_holds_no_array()
    {
        _ = new PooledBufferWriter(4096); // the type's first use, outside the measurement

        var before = GC.GetAllocatedBytesForCurrentThread();
        var writer = new PooledBufferWriter(4096);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.InRange(allocated, 1, 256);
        Assert.Equal(0, writer.WrittenCount);
        Assert.True(writer.WrittenMemory.IsEmpty);
    }

    [Fact]
    public void Bytes_written_through_every_growth_come_back_whole_and_in_order()
    {
        var writer = new PooledBufferWriter(16);
        var expected = new List<byte>();
        for (var i = 0; i < 200; i++)
        {
            var chunk = Bytes(i, 1 + i % 97);
            if (i % 2 == 0)
            {
                writer.Write(chunk);
            }
            else
            {
                chunk.CopyTo(writer.GetMemory(chunk.Length).Span);
                writer.Advance(chunk.Length);
            }

            expected.AddRange(chunk);
        }

        Assert.Equal(expected.Count, writer.WrittenCount);
        Assert.Equal(expected, writer.WrittenMemory.ToArray());
    }

    [Fact]
    public void After_a_release_the_writer_starts_empty_and_works_again()
    {
        var writer = new PooledBufferWriter(64);
        writer.Write(Bytes(0, 100));
        writer.Release();
        Assert.Equal(0, writer.WrittenCount);

        writer.Write(Bytes(7, 3));
        Assert.Equal(Bytes(7, 3), writer.WrittenMemory.ToArray());

        writer.ResetWrittenCount();
        Assert.True(writer.WrittenMemory.IsEmpty);
    }

    [Fact]
    public void Advancing_past_the_memory_handed_out_is_refused()
    {
        var writer = new PooledBufferWriter(16);
        var room = writer.GetMemory(16).Length;

        Assert.Throws<InvalidOperationException>(() => writer.Advance(room + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(-1));
    }
}
