using System.Net;

namespace Gateway.Observability;

/// <summary>
/// <c>dotnet Gateway.dll probe</c>: asks the gateway running beside it for <c>/readyz</c> on its own HTTP port and exits
/// 0 when ready, 1 when not. The container's HEALTHCHECK uses it, as the runtime image has no curl.
/// </summary>
internal static class ReadinessProbe
{
    public const string Command = "probe";

    public static async Task<int> RunAsync(string[] args)
    {
        // appsettings.json, environment variables and arguments, in the gateway's order: the container sets the port by variable.
        var configuration = new ConfigurationBuilder()
            .SetBasePath(AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine(args)
            .Build();
        var port = configuration.GetValue("Gateway:Http:Port", 8080);
        var address = configuration["Gateway:Http:Address"] ?? configuration["Gateway:DefaultAddress"];
        // "*" and "localhost" bind the loopback too; a specific address is asked there.
        var host = IPAddress.TryParse(address, out var ip) && !ip.Equals(IPAddress.Any) && !ip.Equals(IPAddress.IPv6Any)
            ? (ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : ip.ToString())
            : "127.0.0.1";

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await http.GetAsync($"http://{host}:{port}/readyz").ConfigureAwait(false);
            Console.WriteLine($"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            await Console.Error.WriteLineAsync($"Gateway not reachable at http://{host}:{port}/readyz: {ex.Message}").ConfigureAwait(false);
            return 1;
        }
    }
}
