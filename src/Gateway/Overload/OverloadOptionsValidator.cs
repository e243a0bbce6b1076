using Gateway.Configuration;

namespace Gateway.Overload;

/// <summary>Checks <c>Gateway:Overload</c>: each threshold in range, and the low one below the high one as the process will resolve them.</summary>
internal sealed class OverloadOptionsValidator : GatewayOptionsCheck
{
    private const string Path = $"{Root}:Overload";

    protected override void Check(GatewayOptions options, List<string> errors)
    {
        var overload = options.Overload;
        CheckPercent(overload.HighMemoryPercent, nameof(overload.HighMemoryPercent), errors);
        CheckPercent(overload.LowMemoryPercent, nameof(overload.LowMemoryPercent), errors);
        CheckBytes(overload.HighMemoryBytes, nameof(overload.HighMemoryBytes), errors);
        CheckBytes(overload.LowMemoryBytes, nameof(overload.LowMemoryBytes), errors);
        if (overload.SampleInterval <= TimeSpan.Zero)
            errors.Add($"{Path}:SampleInterval must be positive (was {overload.SampleInterval}).");
        if (overload.RetryAfter < TimeSpan.FromSeconds(1))
            errors.Add($"{Path}:RetryAfter must be at least 1 second, as Retry-After counts whole seconds (was {overload.RetryAfter}).");
        if (errors.Count > 0) return;

        // Equal thresholds would enter and leave overload on every sample around them: the gap is the hysteresis.
        var available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        var thresholds = overload.Resolve(available);
        if (thresholds.LowBytes >= thresholds.HighBytes)
        {
            errors.Add($"{Path}:{overload.LowSetting} must give a threshold below {Path}:{overload.HighSetting}: the low threshold is "
                + $"{thresholds.LowBytes:N0} bytes and the high one {thresholds.HighBytes:N0} bytes (the process may use {available:N0} bytes).");
        }
    }

    private static void CheckPercent(double percent, string setting, List<string> errors)
    {
        if (!(percent > 0 && percent <= 100))
            errors.Add($"{Path}:{setting} must be above 0 and at most 100 (was {percent}).");
    }

    private static void CheckBytes(long? bytes, string setting, List<string> errors)
    {
        if (bytes <= 0)
            errors.Add($"{Path}:{setting} must be positive (was {bytes}).");
    }
}
