namespace Gateway.HostileTests;

/// <summary>
/// HTTP abuse on the gateway's HTTP host: oversized headers, unknown methods, garbage request lines, bodies over
/// MaxPublishBytes, topics with control characters and a publish flood over Gateway:Http:Limits each get their answer,
/// the flood is counted, and a bystander from another address keeps publishing.
/// </summary>
public sealed class HttpAbuseTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Oversized_headers_bad_methods_huge_bodies_invalid_topics_and_a_publish_flood_get_their_answers_and_a_bystander_is_served()
    {
        var floodRequests = HostileScale.Of(300, 5_000);
        await using var gateway = await HostileGateway.StartAsync(
            "Gateway:Http:MaxPublishBytes=1024", "Gateway:Http:Limits:MessagesPerSecond=50", "Gateway:Http:Limits:OnBreach=Drop");
        var answers = new Dictionary<string, string>
        {
            ["oversized headers"] = await RawStatusAsync(gateway.HttpPort, $"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {new string('a', 64 * 1024)}\r\n\r\n"),
            ["unknown method"] = await RawStatusAsync(gateway.HttpPort, "BREW /api/topics/t HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
            ["garbage request line"] = await RawStatusAsync(gateway.HttpPort, "\u0001\u0002 nonsense\r\n\r\n"),
            ["body over MaxPublishBytes"] = await RawStatusAsync(gateway.HttpPort,
                $"POST /api/topics/t HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n{new string('x', 2048)}"),
            ["topic with a control character"] = await RawStatusAsync(gateway.HttpPort, "POST /api/topics/a%01b HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"),
        };

        using var flooder = gateway.CreateHttpClient();
        var statuses = new Dictionary<int, int>();
        for (var i = 0; i < floodRequests; i++)
        {
            using var response = await flooder.PostAsync("/api/topics/flood", new StringContent("x"));
            statuses[(int)response.StatusCode] = statuses.GetValueOrDefault((int)response.StatusCode) + 1;
            if (response.StatusCode == HttpStatusCode.TooManyRequests) Assert.NotNull(response.Headers.RetryAfter);
        }

        using var bystander = ClientFrom(IPAddress.Parse("127.0.0.2"), gateway.HttpAddress);
        using var served = await bystander.PostAsync("/api/topics/bystander", new StringContent("hello"));
        await gateway.AssertAliveAsync();
        var limited = await gateway.RejectionsAsync("http", "rate_limited");
        Figures.Report(output, "HTTP abuse", ("answers", string.Join("; ", answers.Select(answer => $"{answer.Key} {answer.Value}"))),
            ("flood requests", floodRequests), ("flood 200", statuses.GetValueOrDefault(200)), ("flood 429", statuses.GetValueOrDefault(429)),
            ("rate_limited counted", limited), ("bystander", (int)served.StatusCode));

        Assert.Equal("431", answers["oversized headers"]);
        Assert.Equal("405", answers["unknown method"]);
        Assert.Equal("400", answers["garbage request line"]);
        Assert.Equal("413", answers["body over MaxPublishBytes"]);
        Assert.Equal("400", answers["topic with a control character"]);
        Assert.True(statuses.GetValueOrDefault(429) > 0, "the flood was never refused");
        Assert.Equal(floodRequests, statuses.GetValueOrDefault(200) + statuses.GetValueOrDefault(429));
        Assert.Equal(statuses.GetValueOrDefault(429), limited);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
    }

    /// <summary>Writes <paramref name="request"/> on a fresh connection and returns the status code of the answer ("none" when closed unanswered).</summary>
    private static async Task<string> RawStatusAsync(int port, string request)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(10));
        var stream = client.GetStream();
        try
        {
            await stream.WriteAsync(Encoding.Latin1.GetBytes(request));
        }
        catch (IOException)
        {
            // The server answered and closed before reading all of it.
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[12];
        var read = 0;
        try
        {
            while (read < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(read), timeout.Token);
                if (n == 0) break;
                read += n;
            }
        }
        catch (IOException)
        {
        }

        var head = Encoding.ASCII.GetString(buffer, 0, read);
        return head.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) ? head[9..12] : "none";
    }

    /// <summary>An HTTP client whose connections come from <paramref name="local"/>, so that per-address limits see another client.</summary>
    private static HttpClient ClientFrom(IPAddress local, Uri server)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, cancellationToken) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                socket.Bind(new IPEndPoint(local, 0));
                await socket.ConnectAsync(context.DnsEndPoint, cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        return new HttpClient(handler) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(10) };
    }
}
