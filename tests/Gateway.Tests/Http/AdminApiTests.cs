using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Http;

/// <summary>Listing endpoints and connections of every protocol, and disconnecting one.</summary>
public sealed class AdminApiTests
{
    private static readonly string[] s_settings =
    [
        "Gateway:Endpoints:lines:Port=0",
        "Gateway:Endpoints:lines:Framing:Kind=Line",
        "Gateway:Endpoints:lines:Publish=chat",
        "Gateway:Endpoints:lines:Subscribe:0=chat",
    ];

    [Fact]
    public async Task Connections_of_every_protocol_are_listed_and_a_tcp_peer_can_be_disconnected()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var peer = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await using var events = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/chat/events");
        await gateway.WaitForConnectionsAsync(2);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var connections = await http.GetFromJsonAsync<JsonElement[]>("/api/connections");
        Assert.Contains(connections!, c => c.GetProperty("protocol").GetString() == "sse");
        var tcp = Assert.Single(connections!, c => c.GetProperty("protocol").GetString() == "tcp");
        Assert.Equal("lines", tcp.GetProperty("endpoint").GetString());

        var deleted = await http.DeleteAsync($"/api/connections/{tcp.GetProperty("id").GetString()}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.True(await peer.WaitForCloseAsync(TimeSpan.FromSeconds(10)), "the peer stayed connected");
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("closed by admin", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_event_stream_can_be_disconnected_too()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var events = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/chat/events");
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var stream = Assert.Single((await http.GetFromJsonAsync<JsonElement[]>("/api/connections"))!);

        var deleted = await http.DeleteAsync($"/api/connections/{stream.GetProperty("id").GetString()}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await Assert.ThrowsAsync<EndOfStreamException>(() => events.ReadEventAsync());
    }

    [Fact]
    public async Task Disconnecting_an_unknown_id_is_a_404_problem()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.DeleteAsync("/api/connections/nobody");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Endpoints_are_listed_with_their_bound_addresses()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var endpoints = await http.GetFromJsonAsync<JsonElement[]>("/api/endpoints");

        var lines = Assert.Single(endpoints!, e => e.GetProperty("name").GetString() == "lines");
        Assert.Equal($"127.0.0.1:{gateway.EndPointOf("lines").Port}", lines.GetProperty("address").GetString());
        // Every capability describes its own endpoints: the HTTP host's requests and WebSocket share its port.
        var requests = Assert.Single(endpoints!, e => e.GetProperty("name").GetString() == "http");
        var ws = Assert.Single(endpoints!, e => e.GetProperty("name").GetString() == "ws");
        Assert.Equal(gateway.HttpAddress.Authority, requests.GetProperty("address").GetString());
        Assert.Equal(gateway.HttpAddress.Authority, ws.GetProperty("address").GetString());
        Assert.Equal("ws", ws.GetProperty("protocol").GetString());
        Assert.Equal("(/ws?subscribe=)", ws.GetProperty("subscribe")[0].GetString());
    }

    [Fact]
    public async Task Every_endpoint_is_announced_once_at_start_with_where_it_listens()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);

        var announced = gateway.Logs.Lines.Where(line => line.EventId.Name == "EndpointListening").Select(line => line.Message).ToList();

        Assert.Contains(announced, line => line.StartsWith($"Endpoint lines listening on 127.0.0.1:{gateway.EndPointOf("lines").Port} (tcp): Line framing,", StringComparison.Ordinal));
        Assert.Contains(announced, line => line.StartsWith($"Endpoint http listening on {gateway.HttpAddress.Authority} (http): publish (POST /api/topics/{{topic}})", StringComparison.Ordinal));
        Assert.Contains(announced, line => line.StartsWith($"Endpoint ws listening on {gateway.HttpAddress.Authority} (ws): publish (/ws?publish=)", StringComparison.Ordinal));
        Assert.Equal(announced.Count, announced.Distinct().Count());
    }
}
