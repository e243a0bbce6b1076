using System.Net.Http.Json;
using System.Text.Json;

namespace Gateway.Tests.Routing;

/// <summary>A route as <c>GET /api/routes</c> lists it, and the accounting identity every test checks.</summary>
internal static class RouteAccounting
{
    public static async Task<JsonElement> GetAsync(Uri gateway, string route)
    {
        using var http = new HttpClient { BaseAddress = gateway };
        var routes = await http.GetFromJsonAsync<JsonElement[]>("/api/routes");
        return routes!.Single(r => r.GetProperty("name").GetString() == route);
    }

    /// <summary>Asserts matched = succeeded + failed + inFlight + queued + every dropped reason, and returns the route.</summary>
    public static async Task<JsonElement> AssertIdentityAsync(Uri gateway, string route)
    {
        var state = await GetAsync(gateway, route);
        var dropped = state.GetProperty("dropped").EnumerateObject().Sum(reason => reason.Value.GetInt64());
        var parts = state.GetProperty("succeeded").GetInt64() + state.GetProperty("failed").GetInt64() + state.GetProperty("inFlight").GetInt64()
            + state.GetProperty("queued").GetInt64() + dropped;
        Assert.True(state.GetProperty("matched").GetInt64() == parts, $"matched != succeeded + failed + inFlight + queued + dropped in {state}");
        return state;
    }

    /// <summary>
    /// At one scrape of <c>/metrics</c>: the route's matched (at least <paramref name="minimumMatched"/>) = succeeded +
    /// failed + dropped + pending (queued and in flight).
    /// </summary>
    public static void AssertMetricsAddUp(string text, string route, long minimumMatched = 0)
    {
        var lines = text.Split('\n').Where(line => line.Contains($"gateway_route=\"{route}\"", StringComparison.Ordinal)).ToArray();
        double Sum(string series, string label) => lines
            .Where(line => line.StartsWith(series + "{", StringComparison.Ordinal) && line.Contains(label, StringComparison.Ordinal))
            .Sum(line => double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture));
        var matched = Sum("gateway_route_messages_total", "outcome=\"matched\"");
        var ended = Sum("gateway_route_messages_total", "outcome=\"succeeded\"") + Sum("gateway_route_messages_total", "outcome=\"failed\"")
            + Sum("gateway_route_messages_total", "outcome=\"dropped\"");
        var pending = Sum("gateway_route_pending", "gateway_route_state=");
        Assert.True(matched >= minimumMatched && matched == ended + pending, $"matched {matched} != ended {ended} + pending {pending}:\n{string.Join('\n', lines)}");
    }

    /// <summary>Waits until nothing of the route is queued or in flight; returns its state then, the identity checked.</summary>
    public static async Task<JsonElement> SettledAsync(Uri gateway, string route, long matched, TimeSpan? timeout = null)
    {
        JsonElement state = default;
        await Infrastructure.Eventually.TrueAsync(async () =>
        {
            state = await AssertIdentityAsync(gateway, route);
            return state.GetProperty("matched").GetInt64() >= matched && state.GetProperty("queued").GetInt64() == 0 && state.GetProperty("inFlight").GetInt64() == 0;
        }, $"route {route} settled after {matched} messages", timeout);
        return state;
    }
}
