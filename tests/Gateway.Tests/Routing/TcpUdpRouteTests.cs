using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Routing;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Udp;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Gateway.Tests.Routing;

/// <summary>
/// Routes to TCP and UDP upstreams that the test runs on real sockets: each message is one frame or one datagram, what
/// the upstream sends back is published to the reply topic, and every matched message is accounted for.
/// </summary>
/// <remarks>
/// What a TCP route guarantees: a message counts as succeeded once its frame is flushed to the connection, which TCP
/// says no more about. A frame flushed just before the upstream goes away can be lost (counted succeeded, never read);
/// a message published while the upstream is down waits (within its TTL and retries) and goes out once it is back.
/// A UDP route knows even less: a datagram is succeeded when sent, and the "port unreachable" of a service that is down
/// fails the sends that follow, which are retried and then failed and dead-lettered.
/// </remarks>
public sealed class TcpUdpRouteTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    /// <summary>A line endpoint whose devices publish to telemetry/{connectionId} and hear the route's answers, and a route "up" to <paramref name="kind"/>.</summary>
    private static string[] DevicesAndRoute(string kind, string address, params string[] more) =>
    [
        "Gateway:Endpoints:devices:Port=0",
        "Gateway:Endpoints:devices:Framing:Kind=Line",
        "Gateway:Endpoints:devices:Publish=telemetry/{connectionId}",
        "Gateway:Endpoints:devices:Subscribe:0=answers",
        "Gateway:Routes:up:From:0=telemetry/#",
        $"Gateway:Routes:up:To:Kind={kind}",
        $"Gateway:Routes:up:To:Address={address}",
        "Gateway:Routes:up:ReplyTopic=answers",
        .. more,
    ];

    [Fact]
    public async Task Tcp_upstream_gets_each_message_as_one_frame_and_its_frames_reach_the_reply_topic()
    {
        await using var upstream = TcpLineUpstream.Start(0, answer: line => "ack " + line);
        await using var gateway = await TestGateway.StartAsync(DevicesAndRoute("Tcp", $"127.0.0.1:{upstream.Port}", "Gateway:Routes:up:To:Framing:Kind=Line"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);

        string[] sent = ["temp=21.5", "temp=21.7", "door=open"];
        foreach (var line in sent)
            await device.SendLineAsync(line);

        foreach (var line in sent)
            Assert.Equal("ack " + line, await device.ReadLineAsync(s_timeout));
        Assert.Equal(sent, upstream.Received);
        var route = await RouteAccounting.SettledAsync(gateway.HttpAddress, "up", sent.Length);
        Assert.Equal(sent.Length, route.GetProperty("succeeded").GetInt64());
    }

    [Fact]
    public async Task Tcp_upstream_that_restarts_mid_traffic_gets_what_was_published_while_it_was_down()
    {
        const int before = 100, whileDown = 30, after = 100;
        var port = FreePort.Next();
        var upstream = TcpLineUpstream.Start(port);
        await using var gateway = await TestGateway.StartAsync(DevicesAndRoute("Tcp", $"127.0.0.1:{port}",
            "Gateway:Routes:up:To:Framing:Kind=Line",
            // Each attempt waits for the connection for longer than the upstream is down, and a write that meets the broken
            // connection is retried often enough to reach the next one: nothing fails, nothing expires.
            "Gateway:Routes:up:AttemptTimeout=00:00:20",
            "Gateway:Routes:up:TotalTimeout=00:00:50",
            "Gateway:Routes:up:Retry:MaxRetries=10",
            "Gateway:Routes:up:Retry:BaseDelay=00:00:00.050",
            "Gateway:Routes:up:Retry:MaxDelay=00:00:00.500"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);
        var tcp = (TcpUpstream)Route(gateway).Upstream;
        await Eventually.TrueAsync(() => tcp.IsConnected, "the route connected to the upstream");
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var received = new List<string>();
        // Messages flow while the upstream goes away: it stops listening and closes the connection mid-stream.
        var sending = Task.Run(async () =>
        {
            for (var i = 0; i < before; i++)
            {
                await device.SendLineAsync($"m{i}");
                await Task.Delay(2);
            }
        });
        await Eventually.TrueAsync(() => upstream.Received.Count >= before / 3, "the upstream received the first messages", s_timeout);
        received.AddRange(await upstream.StopAsync());
        await sending;
        await Eventually.TrueAsync(() => !tcp.IsConnected, "the route saw the connection close", s_timeout);

        for (var i = before; i < before + whileDown; i++)
            await device.SendLineAsync($"m{i}");
        await Task.Delay(500);
        Assert.False(tcp.IsConnected);
        upstream = TcpLineUpstream.Start(port);
        try
        {
            for (var i = before + whileDown; i < before + whileDown + after; i++)
                await device.SendLineAsync($"m{i}");
            var total = before + whileDown + after;
            var route = await RouteAccounting.SettledAsync(gateway.HttpAddress, "up", total, s_timeout);
            RouteAccounting.AssertMetricsAddUp(await http.GetStringAsync("/metrics"), "up", minimumMatched: 1);
            received.AddRange(await upstream.StopAsync());

            var numbers = received.Select(line => int.Parse(line.AsSpan(1), CultureInfo.InvariantCulture)).ToList();
            var succeeded = route.GetProperty("succeeded").GetInt64();
            var lost = before - numbers.Count(n => n < before);
            output.WriteLine($"upstream received {received.Count} of {total}; succeeded {succeeded}; lost when the connection closed: {lost}");
            Assert.Equal(total, route.GetProperty("matched").GetInt64());
            // Each message ended: none failed or expired, as the settings above promise.
            Assert.Equal(total, succeeded);
            // One message, one frame, and each topic's order kept across the restart (no duplicates either).
            Assert.Equal(numbers.Order(), numbers);
            Assert.Equal(numbers.Count, numbers.Distinct().Count());
            Assert.True(received.Count <= succeeded);
            // Published while the upstream was down, or after it came back: every one arrives.
            Assert.Equal(Enumerable.Range(before, whileDown + after), numbers.Where(n => n >= before));
        }
        finally
        {
            await upstream.DisposeAsync();
        }
    }

    [Fact]
    public async Task Udp_upstream_gets_each_message_as_one_datagram_and_its_datagrams_reach_the_reply_topic()
    {
        using var upstream = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)upstream.Client.LocalEndPoint!).Port;
        await using var gateway = await TestGateway.StartAsync(DevicesAndRoute("Udp", $"127.0.0.1:{port}"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);

        string[] sent = ["alarm", "temp=21.5", "door=open"];
        foreach (var line in sent)
            await device.SendLineAsync(line);

        IPEndPoint? route = null;
        foreach (var line in sent)
        {
            using var cts = new CancellationTokenSource(s_timeout);
            var datagram = await upstream.ReceiveAsync(cts.Token);
            Assert.Equal(line, Encoding.UTF8.GetString(datagram.Buffer));
            route = datagram.RemoteEndPoint;
        }

        await upstream.SendAsync("ack"u8.ToArray(), route!);
        Assert.Equal("ack", await device.ReadLineAsync(s_timeout));
        Assert.Equal(sent.Length, (await RouteAccounting.SettledAsync(gateway.HttpAddress, "up", sent.Length)).GetProperty("succeeded").GetInt64());
    }

    [Fact]
    public async Task Udp_upstream_that_is_down_fails_the_sends_after_retries_and_dead_letters_them()
    {
        // Nothing listens on the port: the loopback answers each datagram with ICMP port unreachable.
        int port;
        using (var closed = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
            port = ((IPEndPoint)closed.Client.LocalEndPoint!).Port;
        await using var gateway = await TestGateway.StartAsync(DevicesAndRoute("Udp", $"127.0.0.1:{port}",
            "Gateway:Routes:up:DeadLetter=dead/{connectionId}",
            "Gateway:Routes:up:Retry:MaxRetries=2",
            "Gateway:Routes:up:Retry:BaseDelay=00:00:00.020",
            // The breaker would keep the messages queued instead: this test is about retries.
            "Gateway:Routes:up:CircuitBreaker:MinimumThroughput=1000"));
        var recorder = new MessageRecorder();
        using var subscription = gateway.Services.GetRequiredService<IMessageBus>().Subscribe(TopicFilter.Parse("dead/#"), recorder);
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);

        // The first datagram counts as sent: nothing says it was lost until its "port unreachable" comes back.
        await device.SendLineAsync("m0");
        var udp = (UdpUpstream)Route(gateway).Upstream;
        await Eventually.TrueAsync(() => udp.IsUnreachable, "the route heard the port is unreachable", s_timeout);
        string[] sent = ["m1", "m2", "m3", "m4"];
        foreach (var line in sent)
            await device.SendLineAsync(line);

        var route = await RouteAccounting.SettledAsync(gateway.HttpAddress, "up", 1 + sent.Length, s_timeout);
        Assert.Equal(sent.Length, route.GetProperty("failed").GetInt64());
        Assert.Equal(1, route.GetProperty("succeeded").GetInt64());
        Assert.Contains("refused", route.GetProperty("lastError").GetString(), StringComparison.OrdinalIgnoreCase);
        // A message is counted as failed a moment before its dead letter is published and counted.
        await Eventually.TrueAsync(() => recorder.Messages.Count == sent.Length, "every failed message was dead-lettered");
        Assert.Equal(sent, recorder.Messages.Select(message => Encoding.UTF8.GetString(message.Payload.Span)));
        Assert.Equal(sent.Length, (await RouteAccounting.GetAsync(gateway.HttpAddress, "up")).GetProperty("deadLettered").GetInt64());
        Assert.All(recorder.Messages, message => Assert.StartsWith("dead/", message.Topic, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Tcp", null, "Gateway:Routes:up:To:Address '' is not host:port")]
    [InlineData("Tcp", "upstream.example", "Gateway:Routes:up:To:Address 'upstream.example' is not host:port")]
    [InlineData("Udp", "upstream.example:9000", "Gateway:Routes:up:To:Address 'upstream.example:9000' is not host:port with an IPv4 address")]
    [InlineData("Udp", "127.0.0.1", "Gateway:Routes:up:To:Address '127.0.0.1' is not host:port")]
    [InlineData("Udp", "127.0.0.1:0", "Gateway:Routes:up:To:Address '127.0.0.1:0' is not host:port")]
    public async Task Route_with_a_bad_upstream_address_stops_the_start_and_names_the_setting(string kind, string? address, string expected)
    {
        string[] settings =
        [
            "Gateway:Routes:up:From:0=telemetry/#",
            $"Gateway:Routes:up:To:Kind={kind}",
            .. address is null ? Array.Empty<string>() : [$"Gateway:Routes:up:To:Address={address}"],
        ];

        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(settings));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Tcp", "Gateway:Routes:up:ReplyTopic=answers/{connectionId}", "Gateway:Routes:up:ReplyTopic 'answers/{connectionId}' has placeholders")]
    [InlineData("Udp", "Gateway:Routes:up:ReplyTopic=answers/{remote}", "Gateway:Routes:up:ReplyTopic 'answers/{remote}' has placeholders")]
    [InlineData("Udp", "Gateway:Routes:up:Queue:Overflow=Disconnect", "Gateway:Routes:up:Queue:Overflow Disconnect does not apply to a route")]
    public async Task Invalid_tcp_or_udp_route_setting_stops_the_start_and_names_the_setting(string kind, string setting, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(
            "Gateway:Routes:up:From:0=telemetry/#", $"Gateway:Routes:up:To:Kind={kind}", "Gateway:Routes:up:To:Address=127.0.0.1:9", setting));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:5000", "127.0.0.1:5000")]
    [InlineData("localhost:5000", "127.0.0.1:5000")]
    [InlineData("[::1]:5000", "[::1]:5000")]
    [InlineData("::1:5000", null)]
    [InlineData("host.example:5000", null)]
    [InlineData("127.0.0.1:65536", null)]
    [InlineData("127.0.0.1:", null)]
    public void Udp_upstream_address_is_an_ip_and_port_without_name_resolution(string value, string? expected)
    {
        var parsed = HostPort.TryParseIPEndPoint(value, out var target);

        Assert.Equal(expected is not null, parsed);
        Assert.Equal(expected, target?.ToString());
    }

    private static Route Route(TestGateway gateway) => gateway.Services.GetRequiredService<RouteCatalog>().Routes.Single(route => route.Name == "up");

    /// <summary>
    /// A line-framed TCP service on the loopback: it records each line it reads, in order, and writes back
    /// <c>answer(line)</c> when given. Disposing it stops the listener and closes every accepted connection at once.
    /// </summary>
    private sealed class TcpLineUpstream : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly Func<string, string>? _answer;
        private readonly CancellationTokenSource _stop = new();
        private readonly ConcurrentBag<Socket> _accepted = [];
        private readonly Task _accepting;
        private readonly List<Task> _reading = [];
        private readonly Lock _lock = new();
        private readonly List<string> _received = [];
        private List<string>? _final;

        private TcpLineUpstream(int port, Func<string, string>? answer)
        {
            _answer = answer;
            _listener = new TcpListener(IPAddress.Loopback, port);
            // The port is taken again at once after a restart, its closed connections in TIME_WAIT notwithstanding.
            _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Start();
            Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
            _accepting = AcceptAsync();
        }

        public int Port { get; }

        public IReadOnlyList<string> Received
        {
            get
            {
                lock (_lock) return [.. _received];
            }
        }

        public static TcpLineUpstream Start(int port, Func<string, string>? answer = null) => new(port, answer);

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var socket = await _listener.AcceptSocketAsync(_stop.Token);
                    _accepted.Add(socket);
                    lock (_lock) _reading.Add(ReadAsync(socket));
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task ReadAsync(Socket socket)
        {
            var buffer = new byte[64 * 1024];
            var pending = new StringBuilder();
            try
            {
                while (true)
                {
                    var read = await socket.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                    if (read == 0) return;
                    pending.Append(Encoding.UTF8.GetString(buffer, 0, read));
                    var text = pending.ToString();
                    var end = text.LastIndexOf('\n');
                    if (end < 0) continue;
                    pending.Remove(0, end + 1);
                    foreach (var line in text[..end].Split('\n'))
                    {
                        lock (_lock) _received.Add(line);
                        if (_answer is not null) await socket.SendAsync(Encoding.UTF8.GetBytes(_answer(line) + "\n"), SocketFlags.None);
                    }
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                // Stopped, or the gateway went away: a line cut short is not a message.
            }
        }

        /// <summary>Stops listening, closes every connection (what was not read yet is lost), and returns every line read.</summary>
        public async Task<List<string>> StopAsync()
        {
            if (_final is not null) return [];
            await _stop.CancelAsync();
            _listener.Stop();
            foreach (var socket in _accepted)
                socket.Dispose();
            await _accepting;
            Task[] reading;
            lock (_lock) reading = [.. _reading];
            await Task.WhenAll(reading);
            _final = [.. Received];
            _stop.Dispose();
            return _final;
        }

        public async ValueTask DisposeAsync() => await StopAsync();
    }
}
