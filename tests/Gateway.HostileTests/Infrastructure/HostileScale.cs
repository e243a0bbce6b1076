namespace Gateway.HostileTests.Infrastructure;

/// <summary>
/// How hard the scenarios push: reduced by default (CI runs every scenario together in well under 2 minutes on 2 cores),
/// full with <c>HOSTILE_SCALE=full</c>, the figures the README's Reliability section records.
/// </summary>
internal static class HostileScale
{
    public static bool Full { get; } = string.Equals(Environment.GetEnvironmentVariable("HOSTILE_SCALE"), "full", StringComparison.OrdinalIgnoreCase);

    public static string Name => Full ? "full" : "reduced";

    /// <summary><paramref name="reduced"/> in CI, <paramref name="full"/> with <c>HOSTILE_SCALE=full</c>.</summary>
    public static int Of(int reduced, int full) => Full ? full : reduced;
}
