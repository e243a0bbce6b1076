using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Http;

/// <summary>The HTTP publish API and server-sent event streams, with real HTTP clients.</summary>
public sealed class TopicsApiTests
{
    private static readonly string[] s_settings =
    [
        "Gateway:Http:MaxPublishBytes=1024",
        "Gateway:Endpoints:lines:Port=0",
        "Gateway:Endpoints:lines:Framing:Kind=Line",
        "Gateway:Endpoints:lines:Publish=sensors/{connectionId}/reading",
        "Gateway:Endpoints:lines:Subscribe:0=commands/#",
    ];

    [Fact]
    public async Task Http_publish_reaches_a_tcp_subscriber_and_returns_the_id_and_subscriber_count()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.PostAsync("/api/topics/commands/door/open", new StringContent("unlock", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("commands/door/open", result.GetProperty("topic").GetString());
        Assert.Equal(1, result.GetProperty("subscribers").GetInt32());
        Assert.True(result.GetProperty("id").GetInt64() > 0);
        Assert.Equal("unlock", await device.ReadLineAsync());
    }

    [Fact]
    public async Task A_publish_answer_carries_its_length_instead_of_being_chunked()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.PostAsync("/api/topics/lengths", new StringContent("64 bytes or so"));

        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.NotEqual(true, response.Headers.TransferEncodingChunked);
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var result = JsonDocument.Parse(body).RootElement;
        Assert.Equal("lengths", result.GetProperty("topic").GetString());
        Assert.Equal(0, result.GetProperty("subscribers").GetInt32());
    }

    [Fact]
    public async Task Any_content_type_is_published_and_an_event_stream_counts_as_one_subscriber()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var events = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/forms/events");
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.PostAsync("/api/topics/forms", new FormUrlEncodedContent([new("a", "1")]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("subscribers").GetInt32());
        var (_, data) = await events.ReadEventAsync();
        Assert.Equal("application/x-www-form-urlencoded", data.GetProperty("contentType").GetString());
        Assert.Equal("a=1", data.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Chinese_text_arrives_in_the_event_stream_as_utf8_not_as_escapes()
    {
        const string text = "学习Node.js网络编程 <b>&'";
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var events = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/notes/events");
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        await http.PostAsync("/api/topics/notes", new StringContent(text, Encoding.UTF8, "text/plain"));

        var (_, data) = await events.ReadEventAsync();
        Assert.Equal(text, data.GetProperty("text").GetString());
        Assert.Contains($"\"text\":\"{text}\"", events.LastData, StringComparison.Ordinal);
        Assert.DoesNotContain("\\u", events.LastData, StringComparison.Ordinal);

        // Beyond U+FFFF the encoder still escapes, as a surrogate pair (the README says so).
        await http.PostAsync("/api/topics/notes", new StringContent("学习 😀", Encoding.UTF8, "text/plain"));
        Assert.Equal("学习 😀", (await events.ReadEventAsync()).Data.GetProperty("text").GetString());
        Assert.Contains("\"text\":\"学习 \\uD83D\\uDE00\"", events.LastData, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/topics/commands%2Fdoor%2Fopen")]
    [InlineData("/api/topics/commands%2fdoor/open")]
    public async Task Encoded_slash_in_a_publish_url_separates_levels(string path)
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.PostAsync(path, new StringContent("unlock", Encoding.UTF8, "text/plain"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("commands/door/open", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("topic").GetString());
        Assert.Equal("unlock", await device.ReadLineAsync());
    }

    [Fact]
    public async Task Encoded_slash_in_a_stream_url_separates_the_filters_levels()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var events = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/devices%2F%2B%2Fdown/events");
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.PostAsync("/api/topics/devices/d1/down", new StringContent("reboot", Encoding.UTF8, "text/plain"));

        Assert.Equal(1, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("subscribers").GetInt32());
        var (_, data) = await events.ReadEventAsync();
        Assert.Equal("devices/d1/down", data.GetProperty("topic").GetString());
        Assert.Equal("reboot", data.GetProperty("text").GetString());
    }

    [Theory]
    [InlineData("/api/topics/a/%23")]
    [InlineData("/api/topics/a/+/b")]
    public async Task Publishing_to_an_invalid_topic_is_a_400_problem(string path)
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.PostAsync(path, new StringContent("x"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Invalid topic", problem.GetProperty("title").GetString());
    }

    [Fact]
    public async Task Body_over_the_limit_is_a_413_problem_whether_announced_or_chunked()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var announced = await http.PostAsync("/api/topics/big", new ByteArrayContent(new byte[2000]));
        var chunked = new StreamContent(new MemoryStream(new byte[5000]));
        var chunkedResponse = await http.PostAsync("/api/topics/big", chunked);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, announced.StatusCode);
        Assert.Contains("MaxPublishBytes", await announced.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, chunkedResponse.StatusCode);
    }

    [Fact]
    public async Task Expect_100_continue_gets_100_before_the_body_and_413_without_it_when_too_large()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        var port = gateway.HttpAddress.Port;

        var accepted = await RawRequestAsync(port, "POST /api/topics/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            waitFor: "100 Continue", body: "hello");
        Assert.StartsWith("HTTP/1.1 100 Continue", accepted, StringComparison.Ordinal);
        Assert.Contains("HTTP/1.1 200 OK", accepted, StringComparison.Ordinal);

        var refused = await RawRequestAsync(port, "POST /api/topics/raw HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            waitFor: null, body: null);
        Assert.StartsWith("HTTP/1.1 413", refused, StringComparison.Ordinal);
        Assert.DoesNotContain("100 Continue", refused, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Curl_publish_with_expect_100_continue_is_delivered()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);

        await using var curl = ProcessRunner.Start("curl", ["-sS", "-H", "Expect: 100-continue", "-H", "Content-Type: text/plain",
            "--data-binary", "from curl", $"{gateway.HttpAddress}api/topics/commands/curl"]);
        Assert.Equal(0, await curl.WaitForExitAsync(TimeSpan.FromSeconds(20)));

        Assert.Contains("\"subscribers\":1", curl.StandardOutput, StringComparison.Ordinal);
        Assert.Equal("from curl", await device.ReadLineAsync());
    }

    [Fact]
    public async Task Tcp_frames_reach_a_wildcard_event_stream_with_topic_content_type_and_text()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var events = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/sensors/%23/events");
        Assert.Equal("text/event-stream", events.Response.Content.Headers.ContentType?.MediaType);
        await gateway.WaitForConnectionsAsync(1);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));

        await device.SendLineAsync("21.5");

        var (id, data) = await events.ReadEventAsync();
        Assert.Matches("^sensors/[^/]+/reading$", data.GetProperty("topic").GetString());
        Assert.Equal("21.5", data.GetProperty("text").GetString());
        Assert.Equal(id, data.GetProperty("id").GetInt64().ToString());
    }

    [Fact]
    public async Task Binary_payload_is_streamed_as_base64_and_the_content_type_is_kept()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        await using var events = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/blobs/+/events");
        await gateway.WaitForConnectionsAsync(1);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var content = new ByteArrayContent([0xff, 0x00, 0xfe]);
        content.Headers.ContentType = new("application/octet-stream");
        await http.PostAsync("/api/topics/blobs/one", content);

        var (_, data) = await events.ReadEventAsync();
        Assert.Equal("application/octet-stream", data.GetProperty("contentType").GetString());
        Assert.Equal(Convert.ToBase64String([0xff, 0x00, 0xfe]), data.GetProperty("base64").GetString());
    }

    [Fact]
    public async Task Reconnecting_with_Last_Event_ID_replays_exactly_the_missed_messages_in_order()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        string lastSeen;
        await using (var first = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/news/%23/events"))
        {
            await gateway.WaitForConnectionsAsync(1);
            await http.PostAsync("/api/topics/news/a", new StringContent("seen"));
            (lastSeen, _) = await first.ReadEventAsync();
        }

        for (var i = 1; i <= 3; i++)
            await http.PostAsync($"/api/topics/news/{(i % 2 == 0 ? "b" : "a")}", new StringContent($"missed {i}"));

        await using var resumed = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/news/%23/events", lastEventId: lastSeen);
        for (var i = 1; i <= 3; i++)
            Assert.Equal($"missed {i}", (await resumed.ReadEventAsync()).Data.GetProperty("text").GetString());

        await http.PostAsync("/api/topics/news/a", new StringContent("live"));
        Assert.Equal("live", (await resumed.ReadEventAsync()).Data.GetProperty("text").GetString());
    }

    [Fact]
    public async Task Idle_stream_gets_keep_alive_comments_and_still_delivers_afterwards()
    {
        await using var gateway = await TestGateway.StartAsync([.. s_settings, "Gateway:Http:Sse:KeepAliveInterval=00:00:00.200"]);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress, Timeout = Timeout.InfiniteTimeSpan };
        using var response = await http.GetAsync("/api/topics/quiet/events", HttpCompletionOption.ResponseHeadersRead);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));

        Assert.Equal(": keep-alive", await reader.ReadLineAsync(cts.Token));
        await http.PostAsync("/api/topics/quiet", new StringContent("finally"));
        string? line;
        do line = await reader.ReadLineAsync(cts.Token);
        while (line is not null && !line.StartsWith("data: ", StringComparison.Ordinal));
        Assert.Contains("\"text\":\"finally\"", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_event_stream_is_a_connection_with_an_open_and_a_close_line_like_any_other()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        var registry = gateway.Services.GetRequiredService<Gateway.Connections.ConnectionRegistry>();

        await using (var stream = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/news/events"))
        {
            await gateway.WaitForConnectionsAsync(1);
            using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
            await http.PostAsync("/api/topics/news", new StringContent("extra"));
            await stream.ReadEventAsync();
            var session = Assert.Single(registry.All);
            Assert.Equal("sse", session.Protocol);
            Assert.Equal("http", session.Endpoint);
        }

        var opened = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionOpened");
        Assert.Matches(@"^Connection sse-\S+ \(sse\) opened on http from 127\.0\.0\.1:\d+ as anonymous$", opened.Message);
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Contains("(client closed); in 0 bytes 0 messages, out 5 bytes 1 messages", closed.Message, StringComparison.Ordinal);
        Assert.Equal("Gateway.Http.Sse", closed.Category);
        await Eventually.TrueAsync(() => registry.Count == 0, "the stream left the registry");
    }

    [Fact]
    public async Task Invalid_stream_filter_is_a_400_problem()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var response = await http.GetAsync("/api/topics/a/%23/b/events");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task OpenApi_document_describes_the_topics_and_admin_routes()
    {
        await using var gateway = await TestGateway.StartAsync(s_settings);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var document = await http.GetFromJsonAsync<JsonElement>("/openapi/v1.json");

        var paths = document.GetProperty("paths");
        Assert.True(paths.TryGetProperty("/api/topics/{topic}", out _), paths.ToString());
        Assert.True(paths.TryGetProperty("/api/connections/{id}", out _), paths.ToString());
    }

    private static async Task<string> RawRequestAsync(int port, string head, string? waitFor, string? body)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await using var stream = new NetworkStream(socket);
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        var received = new StringBuilder();
        var buffer = new byte[4096];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        if (waitFor is not null)
        {
            while (!received.ToString().Contains(waitFor, StringComparison.Ordinal))
                received.Append(Encoding.ASCII.GetString(buffer, 0, await stream.ReadAsync(buffer, cts.Token)));
            await stream.WriteAsync(Encoding.ASCII.GetBytes(body!));
        }

        // Both requests say "Connection: close": the whole response is what arrives before the end. A refused
        // request's announced body never comes, so the server may end with a reset after its response.
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer, cts.Token)) > 0)
                received.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        catch (IOException) when (received.Length > 0)
        {
        }

        return received.ToString();
    }
}
