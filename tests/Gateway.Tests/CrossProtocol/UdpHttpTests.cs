using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Udp;

namespace Gateway.Tests.CrossProtocol;

/// <summary>UDP meets HTTP through the bus: HTTP → UDP, UDP → server-sent events.</summary>
public sealed class UdpHttpTests
{
    private static readonly string[] s_settings =
    [
        "Gateway:Endpoints:udp:Protocol=Udp",
        "Gateway:Endpoints:udp:Port=0",
        "Gateway:Endpoints:udp:Publish=udp/{remote}",
        "Gateway:Endpoints:udp:Subscribe:0=alerts/#",
    ];

    [Fact]
    public async Task Http_publish_reaches_the_udp_peers_that_have_sent()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var peer = new UdpTestClient(gateway.UdpEndPointOf("udp"));
        await peer.SendAsync("hello");
        await Eventually.TrueAsync(() => gateway.UdpEndpoint("udp").Peers.Count == 1, "the sender was not tracked");
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.PostAsync("/api/topics/alerts/fire", new StringContent("evacuate"));

        Assert.Equal(1, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("subscribers").GetInt32());
        Assert.Equal("evacuate", Encoding.UTF8.GetString((await peer.ReceiveAsync()).Buffer));
    }

    [Fact]
    public async Task Udp_datagrams_reach_an_event_stream_with_the_senders_topic()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var events = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/udp/%23/events");
        await gateway.WaitForConnectionsAsync(1);
        using var peer = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await peer.SendAsync("temp=22");

        var (_, data) = await events.ReadEventAsync();
        Assert.Equal($"udp/{peer.Remote}", data.GetProperty("topic").GetString());
        Assert.Equal("temp=22", data.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Udp_endpoints_are_listed_with_their_bound_address()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var endpoints = await http.GetFromJsonAsync<JsonElement[]>("/api/endpoints");

        var udp = Assert.Single(endpoints!, e => e.GetProperty("name").GetString() == "udp");
        Assert.Equal("udp", udp.GetProperty("protocol").GetString());
        Assert.Equal(gateway.UdpEndPointOf("udp").ToString(), udp.GetProperty("address").GetString());
    }
}
