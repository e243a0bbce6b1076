using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Limits;

/// <summary>Rate limits of HTTP publishes (Gateway:Http:Limits), per client, with a real HTTP client.</summary>
public sealed class PublishRateLimitTests
{
    [Fact]
    public async Task Under_Drop_publishes_over_the_burst_get_429_with_Retry_After_and_another_client_keeps_its_own_budget()
    {
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Http:Limits:MessagesPerSecond=1", "Gateway:Http:Limits:MessageBurst=3", "Gateway:Http:Limits:OnBreach=Drop");
        using var greedy = new HttpClient { BaseAddress = gateway.HttpAddress };

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? refused = null;
        for (var i = 0; i < 12; i++)
        {
            var response = await greedy.PostAsync("/api/topics/readings", new StringContent($"{i}"));
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) refused ??= response;
        }

        var accepted = statuses.Count(status => status == HttpStatusCode.OK);
        Assert.InRange(accepted, 3, 11);
        Assert.Equal(12, accepted + statuses.Count(status => status == HttpStatusCode.TooManyRequests));
        Assert.NotNull(refused);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), "429 without a Retry-After of at least a second");
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains("faster than Gateway:Http:Limits allows (1 messages/s, bursts of 3)", problem.GetProperty("detail").GetString());

        using var other = new HttpClient(FromAddress(IPAddress.Parse("127.0.0.2"))) { BaseAddress = gateway.HttpAddress };
        Assert.Equal(HttpStatusCode.OK, (await other.PostAsync("/api/topics/readings", new StringContent("mine"))).StatusCode);

        Assert.Equal(12 - accepted, (await gateway.RejectionsAsync("http"))["rate_limited"]);
    }

    [Fact]
    public async Task Under_Disconnect_the_429_closes_the_connection()
    {
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Http:Limits:MessagesPerSecond=1", "Gateway:Http:Limits:OnBreach=Disconnect");
        using var client = new HttpClient { BaseAddress = gateway.HttpAddress };

        HttpResponseMessage response;
        var attempts = 0;
        do response = await client.PostAsync("/api/topics/readings", new StringContent("x"));
        while (response.StatusCode == HttpStatusCode.OK && ++attempts < 20);

        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.True(response.Headers.ConnectionClose, "the 429 did not close the connection");
    }

    [Fact]
    public async Task Under_Pause_a_client_a_little_too_fast_waits_its_turn_and_is_never_refused()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:Limits:MessagesPerSecond=5");
        using var client = new HttpClient { BaseAddress = gateway.HttpAddress };

        for (var i = 0; i < 10; i++)
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/topics/readings", new StringContent($"{i}"))).StatusCode);

        Assert.False((await gateway.RejectionsAsync("http")).ContainsKey("rate_limited"), "a paused client was refused");
    }

    [Fact]
    public async Task Bodies_over_the_byte_rate_are_refused_by_their_size()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:Limits:BytesPerSecond=1000", "Gateway:Http:Limits:OnBreach=Drop");
        using var client = new HttpClient { BaseAddress = gateway.HttpAddress };

        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/api/topics/readings", new ByteArrayContent(new byte[900]))).StatusCode);
        var second = await client.PostAsync("/api/topics/readings", new ByteArrayContent(new byte[900]));
        var small = await client.PostAsync("/api/topics/readings", new ByteArrayContent(new byte[50]));

        Assert.Equal(HttpStatusCode.TooManyRequests, second.StatusCode);
        Assert.Equal(HttpStatusCode.OK, small.StatusCode);
    }

    private static SocketsHttpHandler FromAddress(IPAddress source) => new()
    {
        ConnectCallback = async (context, cancellation) =>
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(context.DnsEndPoint, cancellation);
            return new NetworkStream(socket, ownsSocket: true);
        },
    };
}
