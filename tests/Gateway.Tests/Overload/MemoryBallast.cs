using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Gateway.Tests.Overload;

/// <summary>
/// Native memory the test process holds, every page written so it counts in the working set. Freed, it leaves the
/// working set at once: the C library returns blocks this large to the kernel (munmap), where a managed array would stay
/// with the GC for as long as it likes.
/// </summary>
internal sealed class MemoryBallast : IDisposable
{
    private const int ChunkBytes = 64 << 20;
    private const int PageBytes = 4096;
    private readonly List<nint> _chunks = [];

    private MemoryBallast()
    {
    }

    /// <summary>The working set of the test process, which the in-process gateway shares.</summary>
    public static long WorkingSet()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    /// <summary>
    /// The working set once the GC has returned what it can: garbage left by earlier tests would otherwise leave when it
    /// likes, and move the working set under a test's thresholds.
    /// </summary>
    public static long SettledWorkingSet()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return WorkingSet();
    }

    /// <summary>Holds at least <paramref name="bytes"/> more, in blocks of 64 MiB.</summary>
    public static MemoryBallast Allocate(long bytes)
    {
        var ballast = new MemoryBallast();
        for (long held = 0; held < bytes; held += ChunkBytes)
        {
            var chunk = Marshal.AllocHGlobal(ChunkBytes);
            ballast._chunks.Add(chunk);
            for (var offset = 0; offset < ChunkBytes; offset += PageBytes)
                Marshal.WriteByte(chunk, offset, 1);
        }

        return ballast;
    }

    public void Dispose()
    {
        foreach (var chunk in _chunks)
            Marshal.FreeHGlobal(chunk);
        _chunks.Clear();
    }
}
