using System.Runtime.InteropServices;

namespace Gateway.Overload;

/// <summary>
/// Caps the C library's malloc arenas at <see cref="Cap"/>, as <c>MALLOC_ARENA_MAX=2</c> would, unless that variable is
/// set. glibc gives each thread that allocates natively an arena of its own, up to 8 per core, and memory freed in
/// one is reused only by the threads of that arena: the TLS library's buffers, allocated on whichever pool thread
/// decrypts a record, then stay resident in many arenas at once. With 100 TLS peers each holding a frame just below
/// the limit, on Kestrel's socket transport, the cap took a peer's cost from 289-324 KiB to 262-292 KiB (README,
/// "Memory per peer"). The gateway's hot paths allocate managed memory, not native, so fewer arenas cost it no
/// contention that matters.
/// </summary>
internal static partial class NativeHeapArenas
{
    public const int Cap = 2;

    private const string ArenaMaxVariable = "MALLOC_ARENA_MAX";

    // mallopt's parameter number for the arena cap, from glibc's malloc.h.
    private const int M_ARENA_MAX = -8;

    /// <summary>Applies the cap, first thing at start, before the threads that would open arenas exist.</summary>
    public static void Limit()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(ArenaMaxVariable) is not null) return;
        try
        {
            mallopt(M_ARENA_MAX, Cap);
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            // A C library without mallopt (not glibc) has no per-thread arenas to cap.
        }
    }

    [LibraryImport("libc")]
    private static partial int mallopt(int parameter, int value);
}
