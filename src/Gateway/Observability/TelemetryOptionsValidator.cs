using Gateway.Configuration;

namespace Gateway.Observability;

/// <summary>Checks <c>Gateway:Telemetry</c>.</summary>
internal sealed class TelemetryOptionsValidator : GatewayOptionsCheck
{
    protected override void Check(GatewayOptions options, List<string> errors)
    {
        var telemetry = options.Telemetry;
        if (telemetry.OtlpEndpoint is { } otlp && (!otlp.IsAbsoluteUri || otlp.Scheme is not ("http" or "https")))
            errors.Add($"{Root}:Telemetry:OtlpEndpoint must be an absolute http or https address such as http://collector:4317 (was '{otlp}').");
        if (telemetry.OtlpExportInterval < TimeSpan.FromSeconds(1))
            errors.Add($"{Root}:Telemetry:OtlpExportInterval must be at least 1 second (was {telemetry.OtlpExportInterval}).");
    }
}
