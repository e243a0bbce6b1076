
namespace Gateway.HostileTests.Infrastructure;

/// <summary>
/// What a scenario measured, one line of <c>name: value</c> pairs in the test's output, for the README's Reliability
/// section (the README's full-scale command prints them).
/// </summary>
internal static class Figures
{
    public static void Report(ITestOutputHelper output, string scenario, params (string Name, object Value)[] figures)
    {
        var parts = new List<string> { $"scale={HostileScale.Name}" };
        foreach (var (name, value) in figures)
            parts.Add(value is long or int ? $"{name}={value:N0}" : $"{name}={value}");
        output.WriteLine($"HOSTILE {scenario}: {string.Join(", ", parts)}");
    }

    public static string Megabytes(long bytes) => $"{bytes / (1024.0 * 1024.0):F1} MB";
}
