using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Overload;

/// <summary>
/// The process's overload protection, crossed for real: the test process, which the in-process gateway shares, takes and
/// frees memory around thresholds set relative to its working set. Alone in its collection, so no other test's memory
/// moves the working set meanwhile.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OverloadCollection
{
    public const string Name = "Overload";
}

/// <summary>Overload on each transport that carries the framed endpoints.</summary>
[Collection(OverloadCollection.Name)]
public abstract class OverloadTests(TransportKind transport)
{
    private const long MiB = 1 << 20;

    // Wide enough for the gateway's start and the test's own traffic to stay below the low threshold.
    private const long HighAboveBaseline = 512 * MiB;
    private const long LowAboveBaseline = 256 * MiB;

    // More than a throttle interval's log lines.
    private const int RefusedConnections = 3 * LogThrottle.DefaultLimit;

    [Fact]
    public async Task Past_the_high_threshold_new_peers_are_refused_and_counted_while_open_ones_keep_working_until_memory_falls_below_the_low_one()
    {
        var baseline = MemoryBallast.SettledWorkingSet();
        var high = baseline + HighAboveBaseline;
        var socketPath = Path.Combine(Path.GetTempPath(), $"gw-{Guid.NewGuid():N}.sock");
        await using var gateway = await TestGateway.StartAsync(transport,
            "Gateway:Endpoints:echo:Port=0",
            "Gateway:Endpoints:echo:Publish=echo/{connectionId}",
            "Gateway:Endpoints:echo:Subscribe:0=echo/{connectionId}",
            "Gateway:Endpoints:local:UnixSocketPath=" + socketPath,
            "Gateway:Tunnels:Connect:Allow:0=127.0.0.1:9",
            "Gateway:Endpoints:udp:Protocol=Udp",
            "Gateway:Endpoints:udp:Port=0",
            "Gateway:Endpoints:udp:Publish=udp/{remote}",
            "Gateway:Endpoints:udp:Subscribe:0=udp/{remote}",
            $"Gateway:Overload:HighMemoryBytes={high}",
            $"Gateway:Overload:LowMemoryBytes={baseline + LowAboveBaseline}",
            "Gateway:Overload:SampleInterval=00:00:00.020",
            "Gateway:Overload:RetryAfter=00:00:07");
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        await using var open = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await AssertEchoesAsync(open, "before");
        using var trackedUdp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        await AssertUdpEchoesAsync(trackedUdp, gateway, "before");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);

        using (MemoryBallast.Allocate(high - MemoryBallast.WorkingSet() + 64 * MiB))
        {
            await Eventually.TrueAsync(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.ServiceUnavailable, "/readyz fails");
            var ready = await (await http.GetAsync("/readyz")).Content.ReadFromJsonAsync<JsonElement>();
            var overload = ready.GetProperty("checks").GetProperty("overload");
            Assert.Equal("Unhealthy", overload.GetProperty("status").GetString());
            Assert.StartsWith("Overloaded:", overload.GetProperty("description").GetString(), StringComparison.Ordinal);

            for (var i = 0; i < RefusedConnections; i++)
            {
                await using var refused = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
                Assert.True(await refused.WaitForCloseAsync(TimeSpan.FromSeconds(10)), "A new connection is closed at once.");
            }

            await using (var refused = await FramedClient.ConnectAsync(new UnixDomainSocketEndPoint(socketPath)))
                Assert.True(await refused.WaitForCloseAsync(TimeSpan.FromSeconds(10)), "A new Unix socket connection is closed at once.");

            var publish = await http.PostAsync("/api/topics/news", new StringContent("refused"));
            Assert.Equal(HttpStatusCode.ServiceUnavailable, publish.StatusCode);
            Assert.Equal(TimeSpan.FromSeconds(7), publish.Headers.RetryAfter?.Delta);
            Assert.Equal("application/problem+json", publish.Content.Headers.ContentType?.MediaType);

            using (var upgrade = new ClientWebSocket())
            {
                upgrade.Options.CollectHttpResponseDetails = true;
                await Assert.ThrowsAsync<WebSocketException>(() => upgrade.ConnectAsync(new Uri($"ws://{gateway.HttpAddress.Authority}/ws"), CancellationToken.None));
                Assert.Equal(HttpStatusCode.ServiceUnavailable, upgrade.HttpStatusCode);
            }

            await AssertEchoesAsync(open, "during");
            await AssertUdpEchoesAsync(trackedUdp, gateway, "during");
            using (var tunnel = new TcpClient())
            {
                await tunnel.ConnectAsync(gateway.HttpAddress.Host, gateway.HttpAddress.Port);
                var stream = tunnel.GetStream();
                await stream.WriteAsync("CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n"u8.ToArray());
                var answer = new byte[64];
                var read = await stream.ReadAsync(answer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
                Assert.StartsWith("HTTP/1.1 503", Encoding.ASCII.GetString(answer, 0, read), StringComparison.Ordinal);
            }

            // A new sender is not taken on: its datagram is counted and answered by nothing.
            using (var newUdp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
            {
                await newUdp.SendAsync("refused"u8.ToArray(), gateway.UdpEndPointOf("udp"));
                await Eventually.TrueAsync(async () => (await RejectionsAsync(http))["udp"].GetValueOrDefault("overload") == 1, "the new UDP sender is refused");
            }


            var rejections = await RejectionsAsync(http);
            Assert.Equal(RefusedConnections, rejections["echo"].GetValueOrDefault("overload"));
            Assert.Equal(1, rejections["local"].GetValueOrDefault("overload"));
            Assert.Equal(1, rejections["connect"].GetValueOrDefault("overload"));
            Assert.Equal(2, rejections[HttpHost.Name].GetValueOrDefault("overload"));
            Assert.Contains("gateway_overload_active{otel_scope_name=\"Gateway\"} 1", await http.GetStringAsync("/metrics"), StringComparison.Ordinal);
        }

        await Eventually.TrueAsync(async () => (await http.GetAsync("/readyz")).StatusCode == HttpStatusCode.OK, "/readyz passes once the memory is freed");
        await using (var next = await FramedClient.ConnectAsync(gateway.EndPointOf("echo")))
            await AssertEchoesAsync(next, "after");
        Assert.True((await http.PostAsync("/api/topics/news", new StringContent("accepted"))).IsSuccessStatusCode);
        await AssertEchoesAsync(open, "after");
        Assert.Single(gateway.Logs.Lines, line => line.EventId.Name == "OverloadStarted");
        Assert.Single(gateway.Logs.Lines, line => line.EventId.Name == "OverloadEnded");
        Assert.Equal(RefusedConnections, (await RejectionsAsync(http))["echo"].GetValueOrDefault("overload"));
        // Bounded like every line a peer causes at will: one throttle interval's worth, two should the refusals straddle one.
        Assert.InRange(gateway.Logs.Lines.Count(line => line.EventId.Name == "OverloadRefused" && line.Message.StartsWith("Endpoint echo ", StringComparison.Ordinal)),
            1, 2 * LogThrottle.DefaultLimit);
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("gateway_overload_transitions_total{otel_scope_name=\"Gateway\",gateway_overload_transition=\"started\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("gateway_overload_transitions_total{otel_scope_name=\"Gateway\",gateway_overload_transition=\"ended\"} 1", metrics, StringComparison.Ordinal);
    }

    private static async Task AssertUdpEchoesAsync(UdpClient client, TestGateway gateway, string text)
    {
        await client.SendAsync(Encoding.UTF8.GetBytes(text), gateway.UdpEndPointOf("udp"));
        var echo = await client.ReceiveAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(text, Encoding.UTF8.GetString(echo.Buffer));
    }

    private static async Task AssertEchoesAsync(FramedClient client, string text)
    {
        await client.SendAsync(FramedClient.LengthPrefixed(Encoding.UTF8.GetBytes(text)));
        Assert.Equal(text, Encoding.UTF8.GetString(await client.ReadLengthPrefixedAsync()));
    }

    private static async Task<Dictionary<string, IReadOnlyDictionary<string, long>>> RejectionsAsync(HttpClient http)
    {
        var endpoints = await http.GetFromJsonAsync<List<AdminApi.EndpointInfo>>("/api/endpoints");
        return endpoints!.ToDictionary(endpoint => endpoint.Name, endpoint => endpoint.Rejections);
    }
}

public sealed class OverloadTestsOnEpoll() : OverloadTests(TransportKind.Epoll);

public sealed class OverloadTestsOnSockets() : OverloadTests(TransportKind.Sockets);
