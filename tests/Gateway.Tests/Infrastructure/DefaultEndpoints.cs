using System.Text.Json;

namespace Gateway.Tests.Infrastructure;

/// <summary>The listeners the repository's appsettings.json configures by default: the HTTP host's port and each endpoint.</summary>
internal static class DefaultEndpoints
{
    /// <param name="Protocol">"Tcp" or "Udp" (a missing one is Tcp, as in GatewayOptions).</param>
    /// <param name="Port">Null for a Unix socket endpoint.</param>
    internal sealed record Endpoint(string Name, string Protocol, int? Port, string? UnixSocketPath);

    public static int HttpPort => Gateway().GetProperty("Http").GetProperty("Port").GetInt32();

    public static IReadOnlyList<Endpoint> All
    {
        get
        {
            var endpoints = new List<Endpoint>();
            foreach (var endpoint in Gateway().GetProperty("Endpoints").EnumerateObject())
            {
                var value = endpoint.Value;
                endpoints.Add(new Endpoint(
                    endpoint.Name,
                    value.TryGetProperty("Protocol", out var protocol) ? protocol.GetString()! : "Tcp",
                    value.TryGetProperty("Port", out var port) ? port.GetInt32() : null,
                    value.TryGetProperty("UnixSocketPath", out var path) ? path.GetString() : null));
            }

            return endpoints;
        }
    }

    private static JsonElement Gateway()
    {
        using var settings = JsonDocument.Parse(File.ReadAllText(Path.Combine(RepositoryPaths.Root, "appsettings.json")));
        return settings.RootElement.GetProperty("Gateway").Clone();
    }
}
