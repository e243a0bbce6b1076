using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.WebSockets.WebSocketClient;

namespace Gateway.Tests.Limits;

/// <summary>
/// A topic or filter with a control character (U+0000-U+001F, U+007F) is refused wherever a peer names one, each
/// protocol in its own way, and nothing is published. Such characters are invisible in logs and consoles, where they
/// could forge a line.
/// </summary>
public sealed class ControlCharacterTopicTests
{
    private static readonly string[] s_settings =
    [
        "Gateway:Endpoints:lines:Port=0",
        "Gateway:Endpoints:lines:Framing:Kind=Line",
        "Gateway:Endpoints:lines:Subscribe:0=#",
    ];

    [Theory]
    [InlineData("a%01b", "U+0001")]
    [InlineData("a%0Ab", "U+000A")]
    [InlineData("a/%1B%5B31m", "U+001B")]
    [InlineData("a%7F", "U+007F")]
    public async Task An_http_publish_to_such_a_topic_gets_400_naming_the_character_and_reaches_no_one(string topic, string character)
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var refused = await http.PostAsync($"/api/topics/{topic}", new StringContent("forged"));
        var accepted = await http.PostAsync("/api/topics/a/b", new StringContent("fine"));

        Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Contains($"control character {character}", problem.GetProperty("detail").GetString());
        Assert.Equal(HttpStatusCode.OK, accepted.StatusCode);
        // The device's first line is the accepted message: the refused one was never published.
        Assert.Equal("fine", await device.ReadLineAsync());
    }

    [Fact]
    public async Task An_event_stream_of_such_a_filter_gets_400()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.GetAsync("/api/topics/a%09/%23/events", HttpCompletionOption.ResponseHeadersRead);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("control character U+0009", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("?publish=a%0Db")]
    [InlineData("?subscribe=a/%00")]
    public async Task A_websocket_asking_for_such_a_topic_is_refused_with_400_before_the_upgrade(string query)
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(WsUri(gateway, query), CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10)));

        Assert.Equal(HttpStatusCode.BadRequest, socket.HttpStatusCode);
    }

    [Fact]
    public async Task An_envelope_publish_to_such_a_topic_gets_an_invalid_error_and_the_socket_stays_open()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        using var socket = await ConnectAsync(gateway, subprotocol: "gateway.v1.json");
        await gateway.WaitForConnectionsAsync(2);

        await SendTextAsync(socket, """{"op":"publish","topic":"a\u0007b","text":"forged","id":"p1"}""");
        var error = JsonDocument.Parse((await ReceiveAsync(socket)).Text).RootElement;
        await SendTextAsync(socket, """{"op":"publish","topic":"a/b","text":"fine","id":"p2"}""");

        Assert.Equal("error", error.GetProperty("op").GetString());
        Assert.Equal("invalid", error.GetProperty("code").GetString());
        Assert.Contains("control character U+0007", error.GetProperty("error").GetString());
        Assert.Equal("""{"op":"ack","id":"p2"}""", (await ReceiveAsync(socket)).Text);
        Assert.Equal("fine", await device.ReadLineAsync());
    }
}
