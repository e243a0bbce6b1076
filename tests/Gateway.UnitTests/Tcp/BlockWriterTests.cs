using System.Buffers;
using System.IO.Pipelines;
using Gateway.Tcp;

namespace Gateway.UnitTests.Tcp;

public sealed class BlockWriterTests
{
    [Fact]
    public async Task Writes_of_any_size_reach_the_pipe_whole_and_in_order_once_committed()
    {
        // No backpressure: the test reads only after writing everything.
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0));
        var writer = new BlockWriter(pipe.Writer);
        var expected = new List<byte>();
        var random = new Random(7);
        void Write(int size)
        {
            var data = new byte[size];
            random.NextBytes(data);
            writer.Write(data);
            expected.AddRange(data);
        }

        // Small frames share one block, and the pipe hears of them only at the commit.
        foreach (var size in new[] { 1, 68, 68, 0, 68 }) Write(size);
        Assert.Equal(0, pipe.Writer.UnflushedBytes);

        // Larger ones cross the pool's 4 KiB blocks: a block is handed over when the next one is taken.
        foreach (var size in new[] { 3000, 68, 4096, 10_000, 5, 70_000, 68 }) Write(size);
        writer.Commit();
        Assert.Equal(expected.Count, pipe.Writer.UnflushedBytes);
        await pipe.Writer.FlushAsync();
        pipe.Writer.Complete();

        var read = await pipe.Reader.ReadAtLeastAsync(expected.Count);
        Assert.Equal(expected, read.Buffer.ToArray());
    }

    [Fact]
    public void Advancing_past_the_span_it_handed_out_is_refused()
    {
        var pipe = new Pipe();
        var writer = new BlockWriter(pipe.Writer);
        var length = writer.GetSpan(16).Length;

        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(length + 1));
    }
}
