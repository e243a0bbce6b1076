using System.Globalization;

namespace Gateway.Overload;

/// <summary>The process's resident memory (its working set), read cheaply enough to sample every second.</summary>
/// <remarks>
/// <c>Process.WorkingSet64</c> would do, but on Linux each refresh also reads every thread's entry under
/// <c>/proc/self/task</c>, once a second on a core an event loop may be running on; <c>/proc/self/statm</c> is one short
/// line (bench/README.md, "Limits": the TCP echo's ping-pong p99 against the build before the limits).
/// </remarks>
internal static class ResidentMemory
{
    private const string StatmPath = "/proc/self/statm";

    public static long Read()
    {
        if (!OperatingSystem.IsLinux()) return Environment.WorkingSet;
        // "size resident shared text lib data dt", in pages.
        var fields = File.ReadAllText(StatmPath).Split(' ', 3);
        return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }
}
