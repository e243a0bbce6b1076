using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Gateway.Connections;
using Gateway.Tests.Infrastructure;
using Gateway.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using static Gateway.Tests.WebSockets.RawWebSocket;
using static Gateway.Tests.WebSockets.WebSocketClient;

namespace Gateway.Tests.WebSockets;

/// <summary>WebSocket at /ws with real clients: .NET's ClientWebSocket and Node's `ws` package.</summary>
public sealed class WebSocketTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private static readonly string[] s_settings =
    [
        "Gateway:Http:WebSocket:MaxMessageBytes=1000",
        "Gateway:Http:WebSocket:AllowedOrigins:0=https://app.example.com",
        "Gateway:Endpoints:lines:Port=0",
        "Gateway:Endpoints:lines:Framing:Kind=Line",
        "Gateway:Endpoints:lines:Publish=sensors/{connectionId}/t",
        "Gateway:Endpoints:lines:Subscribe:0=commands/#",
    ];

    [Fact]
    public async Task Tcp_frames_reach_a_raw_websocket_subscribed_with_a_wildcard_as_text()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = await ConnectAsync(gateway, "?subscribe=sensors/%2B/t");
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(2);

        await device.SendLineAsync("21.5");

        Assert.Equal((WebSocketMessageType.Text, "21.5"), await ReceiveAsync(socket));
    }

    [Fact]
    public async Task Raw_websocket_messages_are_published_to_tcp_subscribers_and_binary_stays_binary()
    {
        await using var gateway = await TestGateway.StartAsync([.. s_settings,
            "Gateway:Endpoints:bytes:Port=0", "Gateway:Endpoints:bytes:Framing:LengthFieldSize=2", "Gateway:Endpoints:bytes:Subscribe:0=commands/#"]);
        using var socket = await ConnectAsync(gateway, "?publish=commands/door&subscribe=commands/%23");
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await using var binaryDevice = await FramedClient.ConnectAsync(gateway.EndPointOf("bytes"));
        await gateway.WaitForConnectionsAsync(3);

        await SendTextAsync(socket, "open");
        Assert.Equal("open", await device.ReadLineAsync());
        Assert.Equal("open"u8.ToArray(), await binaryDevice.ReadLengthPrefixedAsync(headerSize: 2));
        Assert.Equal((WebSocketMessageType.Text, "open"), await ReceiveAsync(socket));

        await socket.SendAsync(new byte[] { 0xde, 0xad, 0xbe, 0xef }, WebSocketMessageType.Binary, true, CancellationToken.None);
        Assert.Equal(new byte[] { 0xde, 0xad, 0xbe, 0xef }, await binaryDevice.ReadLengthPrefixedAsync(headerSize: 2));
        Assert.Equal((WebSocketMessageType.Binary, "DEADBEEF"), await ReceiveAsync(socket));
    }

    [Fact]
    public async Task Envelope_mode_subscribes_publishes_and_acknowledges_at_run_time()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = await ConnectAsync(gateway, subprotocol: "gateway.v1.json");
        Assert.Equal("gateway.v1.json", socket.SubProtocol);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(2);

        await SendTextAsync(socket, """{"op":"subscribe","filter":"sensors/#","id":"s1"}""");
        Assert.Equal("""{"op":"ack","id":"s1"}""", (await ReceiveAsync(socket)).Text);

        await device.SendLineAsync("19.0");
        var delivery = JsonSerializer.Deserialize<JsonElement>((await ReceiveAsync(socket)).Text);
        Assert.Equal("message", delivery.GetProperty("op").GetString());
        Assert.Matches("^sensors/[^/]+/t$", delivery.GetProperty("topic").GetString());
        Assert.Equal("19.0", delivery.GetProperty("text").GetString());

        await SendTextAsync(socket, """{"op":"publish","topic":"commands/fan","text":"on","id":"p1"}""");
        Assert.Equal("""{"op":"ack","id":"p1"}""", (await ReceiveAsync(socket)).Text);
        Assert.Equal("on", await device.ReadLineAsync());

        await SendTextAsync(socket, """{"op":"unsubscribe","filter":"sensors/#","id":"u1"}""");
        Assert.Equal("""{"op":"ack","id":"u1"}""", (await ReceiveAsync(socket)).Text);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var published = await (await http.PostAsync("/api/topics/sensors/x/t", new StringContent("unheard"))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(0, published.GetProperty("subscribers").GetInt32());
    }

    [Fact]
    public async Task Envelope_delivers_chinese_text_as_utf8_not_as_escapes()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = await ConnectAsync(gateway, subprotocol: "gateway.v1.json");
        await SendTextAsync(socket, """{"op":"subscribe","filter":"notes/#","id":"s1"}""");
        Assert.Equal("""{"op":"ack","id":"s1"}""", (await ReceiveAsync(socket)).Text);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        await http.PostAsync("/api/topics/notes/tcp", new StringContent("学习TCP", Encoding.UTF8, "text/plain"));

        var frame = (await ReceiveAsync(socket)).Text;
        Assert.Contains("\"topic\":\"notes/tcp\"", frame, StringComparison.Ordinal);
        Assert.Contains("\"text\":\"学习TCP\"", frame, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", frame, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"op":"subscribe","filter":"a/#/b","id":"e1"}""", "e1", "'#'")]
    [InlineData("""{"op":"publish","topic":"a/+","text":"x","id":"e2"}""", "e2", "wildcard")]
    [InlineData("""{"op":"dance","id":"e3"}""", "e3", "Unknown op")]
    [InlineData("""not json""", null, "Not a valid JSON command")]
    public async Task Bad_envelope_commands_get_an_error_envelope_and_the_socket_stays_open(string command, string? id, string expected)
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = await ConnectAsync(gateway, subprotocol: "gateway.v1.json");

        await SendTextAsync(socket, command);

        var error = JsonSerializer.Deserialize<JsonElement>((await ReceiveAsync(socket)).Text);
        Assert.Equal("error", error.GetProperty("op").GetString());
        Assert.Equal(id, error.GetProperty("id").GetString());
        Assert.Contains(expected, error.GetProperty("error").GetString(), StringComparison.Ordinal);
        await SendTextAsync(socket, """{"op":"subscribe","filter":"ok","id":"after"}""");
        Assert.Equal("""{"op":"ack","id":"after"}""", (await ReceiveAsync(socket)).Text);
    }

    [Fact]
    public async Task Message_over_the_size_limit_closes_with_1009()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = await ConnectAsync(gateway, "?publish=big");

        await socket.SendAsync(new byte[5000], WebSocketMessageType.Binary, true, CancellationToken.None);

        var (type, _) = await ReceiveAsync(socket);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.MessageTooBig, socket.CloseStatus);
        Assert.Contains("MaxMessageBytes", socket.CloseStatusDescription, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Raw_message_without_a_publish_topic_closes_with_1008()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = await ConnectAsync(gateway, "?subscribe=a");

        await SendTextAsync(socket, "where does this go?");

        var (type, _) = await ReceiveAsync(socket);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
    }

    [Fact]
    public async Task Origin_outside_the_allow_list_is_refused_with_403_and_an_allowed_one_connects()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);

        using var refused = new ClientWebSocket();
        refused.Options.SetRequestHeader("Origin", "https://evil.example.com");
        refused.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(WsUri(gateway), CancellationToken.None));
        Assert.Equal(HttpStatusCode.Forbidden, refused.HttpStatusCode);

        using var allowed = new ClientWebSocket();
        allowed.Options.SetRequestHeader("Origin", "https://app.example.com");
        await allowed.ConnectAsync(WsUri(gateway), CancellationToken.None);
        Assert.Equal(WebSocketState.Open, allowed.State);
    }

    [Fact]
    public async Task Invalid_subscribe_filter_in_the_query_is_refused_before_the_upgrade()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(WsUri(gateway, "?subscribe=a/%23/b"), CancellationToken.None));

        Assert.Equal(HttpStatusCode.BadRequest, socket.HttpStatusCode);
    }

    [Fact]
    public async Task Unknown_query_parameter_is_a_400_problem_naming_the_known_ones()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(WsUri(gateway, "?topic=chat"), CancellationToken.None));

        Assert.Equal(HttpStatusCode.BadRequest, socket.HttpStatusCode);
        // The same upgrade request from HttpClient, which reads the problem document.
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ws?subscribe=chat&topic=chat");
        request.Headers.TryAddWithoutValidation("Connection", "Upgrade");
        request.Headers.TryAddWithoutValidation("Upgrade", "websocket");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
        request.Headers.TryAddWithoutValidation("Sec-WebSocket-Version", "13");
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Unknown query parameter", problem.GetProperty("title").GetString());
        Assert.Equal("'topic' is not a query parameter of /ws; the known ones are subscribe, publish, access_token.", problem.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task Admin_disconnect_closes_the_socket_with_1000_and_the_reason()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var socket = await ConnectAsync(gateway, "?subscribe=a");
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var connection = Assert.Single((await http.GetFromJsonAsync<JsonElement[]>("/api/connections"))!);
        Assert.Equal("ws", connection.GetProperty("protocol").GetString());

        await http.DeleteAsync($"/api/connections/{connection.GetProperty("id").GetString()}");

        var (type, _) = await ReceiveAsync(socket);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, socket.CloseStatus);
        Assert.Equal("closed by admin", socket.CloseStatusDescription);
    }

    [Fact]
    public async Task Node_ws_client_receives_an_http_publish_and_publishes_to_tcp()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);

        await using var node = ProcessRunner.Start("node",
            ["ws-client.js", WsUri(gateway, "?subscribe=alerts&publish=commands/node").ToString(), "1", "hello from ws"],
            workingDirectory: RepositoryPaths.InteropSource);
        Assert.Equal("hello from ws", await device.ReadLineAsync(s_timeout));

        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        await http.PostAsync("/api/topics/alerts", new StringContent("fire drill"));

        Assert.Equal(0, await node.WaitForExitAsync(s_timeout));
        Assert.Contains("recv fire drill", node.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("close 1000", node.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fragmented_empty_and_large_messages_arrive_whole_between_idle_waits()
    {
        // Between messages the gateway waits for data with a zero-byte receive and no buffer of its own: a message split
        // into frames, an empty one and one larger than the pooled buffer must come through that wait unchanged.
        await using var gateway = await TestGateway.StartAsync([.. s_settings, "Gateway:Http:WebSocket:MaxMessageBytes=100000"]);
        using var socket = await ConnectAsync(gateway, "?publish=echo/t&subscribe=echo/t");
        await gateway.WaitForConnectionsAsync(1);

        await socket.SendAsync("hel"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
        await Task.Delay(100); // the second fragment arrives after the gateway has gone back to waiting
        await socket.SendAsync("lo"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        Assert.Equal((WebSocketMessageType.Text, "hello"), await ReceiveWholeAsync(socket));

        await socket.SendAsync(Array.Empty<byte>(), WebSocketMessageType.Text, endOfMessage: true, CancellationToken.None);
        Assert.Equal((WebSocketMessageType.Text, ""), await ReceiveWholeAsync(socket));

        var large = Enumerable.Range(0, 50_000).Select(i => (byte)(i * 7)).ToArray();
        await socket.SendAsync(large, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);
        Assert.Equal((WebSocketMessageType.Binary, Convert.ToHexString(large)), await ReceiveWholeAsync(socket));

        await SendTextAsync(socket, "after");
        Assert.Equal((WebSocketMessageType.Text, "after"), await ReceiveWholeAsync(socket));
    }

    /// <summary>The next message, all its frames: text as it is, binary as hex.</summary>
    private static async Task<(WebSocketMessageType Type, string Text)> ReceiveWholeAsync(ClientWebSocket socket)
    {
        using var cts = new CancellationTokenSource(s_timeout);
        var message = new MemoryStream();
        var buffer = new byte[8192];
        WebSocketReceiveResult result;
        do
        {
            result = await socket.ReceiveAsync(buffer, cts.Token);
            message.Write(buffer, 0, result.Count);
        }
        while (!result.EndOfMessage);

        var bytes = message.ToArray();
        return (result.MessageType, result.MessageType == WebSocketMessageType.Binary ? Convert.ToHexString(bytes) : Encoding.UTF8.GetString(bytes));
    }

    [Fact]
    public async Task A_burst_arriving_in_one_write_reaches_every_subscriber_whole_and_in_order()
    {
        // 300 messages of 900 bytes in one TCP write: the gateway handles them as one batch, so each
        // subscriber's writer finds them all queued and gathers them into few writes (over 64 KiB, several).
        await using var gateway = await TestGateway.StartAsync(s_settings);
        var subscribers = new List<ClientWebSocket>();
        for (var i = 0; i < 3; i++)
            subscribers.Add(await ConnectAsync(gateway, "?subscribe=burst/t"));
        using var publisher = await OpenRawAsync(gateway, "?publish=burst/t");
        var stream = publisher.GetStream();
        await gateway.WaitForConnectionsAsync(4);

        const int count = 300;
        var burst = new MemoryStream();
        for (var i = 0; i < count; i++)
            WriteMaskedTextFrame(burst, $"{i:D4}:" + new string((char)('a' + i % 26), 895));
        await stream.WriteAsync(burst.ToArray());

        foreach (var subscriber in subscribers)
        {
            for (var i = 0; i < count; i++)
                Assert.Equal((WebSocketMessageType.Text, $"{i:D4}:" + new string((char)('a' + i % 26), 895)), await ReceiveAsync(subscriber));
            subscriber.Dispose();
        }
    }

    [Theory]
    [InlineData(Gateway.Configuration.TransportKind.Epoll, true)]
    [InlineData(Gateway.Configuration.TransportKind.Sockets, false)]
    public async Task Plaintext_sockets_are_sent_to_directly_on_the_epoll_transport_only(Gateway.Configuration.TransportKind transport, bool direct)
    {
        await using var gateway = await TestGateway.StartAsync(transport, s_settings);
        using var socket = await ConnectAsync(gateway, "?subscribe=commands/%23");
        await gateway.WaitForConnectionsAsync(1);
        var connection = Assert.Single(gateway.Services.GetRequiredService<ConnectionRegistry>().All.Select(session => session.Control).OfType<WebSocketConnection>());
        Assert.Equal(direct, connection.SendsDirectly);

        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        (await http.PostAsync("/api/topics/commands/reboot", new StringContent("now"))).EnsureSuccessStatusCode();
        Assert.Equal((WebSocketMessageType.Text, "now"), await ReceiveAsync(socket));
    }

    [Fact]
    public async Task A_subscriber_that_stops_reading_gets_every_frame_whole_and_in_order_and_its_pong()
    {
        // 8 MB for one subscriber that reads nothing: more than the sockets' buffers hold, so direct sends fill the
        // socket, the rest waits in Kestrel's pipe, and the pong to the subscriber's ping has to find its place.
        const int count = 2_000;
        static string Message(int i) => $"{i:D4}:" + new string((char)('a' + i % 26), 3995);
        await using var gateway = await TestGateway.StartAsync([.. s_settings,
            "Gateway:Http:WebSocket:MaxMessageBytes=8192", $"Gateway:Http:WebSocket:Outbox:Capacity={count}"]);
        using var subscriber = await OpenRawAsync(gateway, "?subscribe=stall/t", receiveBufferSize: 16 * 1024);
        using var publisher = await OpenRawAsync(gateway, "?publish=stall/t");
        await gateway.WaitForConnectionsAsync(2);

        var burst = new MemoryStream();
        for (var i = 0; i < count; i++)
            WriteMaskedFrame(burst, 0x1, Encoding.ASCII.GetBytes(Message(i)));
        await publisher.GetStream().WriteAsync(burst.ToArray());
        var ping = new MemoryStream();
        WriteMaskedFrame(ping, 0x9, "are you there"u8.ToArray());
        await subscriber.GetStream().WriteAsync(ping.ToArray());

        var next = 0;
        var pongs = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (next < count || pongs == 0)
        {
            var (opcode, payload) = await ReadServerFrameAsync(subscriber.GetStream(), cts.Token);
            if (opcode == 0xA)
            {
                Assert.Equal("are you there", Encoding.ASCII.GetString(payload));
                pongs++;
                continue;
            }

            Assert.Equal(0x1, opcode);
            Assert.Equal(Message(next++), Encoding.ASCII.GetString(payload));
        }

        Assert.Equal(1, pongs);
    }
}
