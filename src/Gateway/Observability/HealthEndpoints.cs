using System.Text.Json;
using Gateway.Observability;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// <c>/healthz</c> (liveness: the process answers) and <c>/readyz</c> (readiness: the checks tagged "ready" pass), both
/// answering JSON with a status for each check; 200 when healthy or degraded, 503 when unhealthy.
/// </summary>
internal static class HealthEndpoints
{
    /// <summary>The tag of the checks readiness waits for; later checks (backplane, upstreams) add themselves with it.</summary>
    public const string ReadyTag = "ready";

    public static IServiceCollection AddGatewayHealth(this IServiceCollection services)
    {
        services.AddHealthChecks().AddCheck<ListenersReadyCheck>(ListenersReadyCheck.Name, tags: [ReadyTag]);
        return services;
    }

    public static WebApplication MapGatewayHealth(this WebApplication app)
    {
        // Liveness runs no check: a process that can answer is alive, and restarting it for a dependency helps nobody.
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteJsonAsync });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = check => check.Tags.Contains(ReadyTag), ResponseWriter = WriteJsonAsync });
        return app;
    }

    /// <summary><c>{"status":"Healthy","checks":{"listeners":{"status":"Healthy","description":"...","data":{...}}}}</c></summary>
    private static async Task WriteJsonAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        await using var json = new Utf8JsonWriter(context.Response.BodyWriter);
        json.WriteStartObject();
        json.WriteString("status", report.Status.ToString());
        json.WriteNumber("durationMs", report.TotalDuration.TotalMilliseconds);
        json.WriteStartObject("checks");
        foreach (var (name, entry) in report.Entries)
        {
            json.WriteStartObject(name);
            json.WriteString("status", entry.Status.ToString());
            json.WriteString("description", entry.Description);
            json.WriteStartObject("data");
            foreach (var (key, value) in entry.Data)
                json.WriteString(key, value?.ToString());
            json.WriteEndObject();
            json.WriteEndObject();
        }

        json.WriteEndObject();
        json.WriteEndObject();

        await json.FlushAsync(context.RequestAborted);
    }
}
