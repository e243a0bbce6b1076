using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Security;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Routing;

/// <summary>
/// Tunnels to allow-listed TCP destinations: HTTP CONNECT on the HTTP host's port (curl, Node's http module, a raw
/// socket), and WebSocket-to-TCP bridges at /tunnel/{name} (Node's ws, .NET's ClientWebSocket), against TCP servers
/// the tests start.
/// </summary>
public sealed class TunnelTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    private const string Key = "tunnel-key-1";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(15);

    private static string[] Tunnels(EchoServer echo, params string[] more) =>
    [
        $"Gateway:Tunnels:Connect:Allow:0={echo.Address}",
        $"Gateway:Tunnels:Bridges:echo:Target={echo.Address}",
        .. more,
    ];

    private static string[] Authenticated(EchoServer echo, EchoServer http) =>
        Tunnels(echo,
            $"Gateway:Tunnels:Connect:Allow:1={http.Address}",
            "Gateway:Security:RequireAuthentication=true",
            "Gateway:Security:ApiKeys:0:Identity=ops",
            $"Gateway:Security:ApiKeys:0:Sha256={Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(Key)))}");

    [Fact]
    public async Task Curl_through_connect_reaches_an_allowed_http_server_and_bytes_flow_both_ways()
    {
        await using var upstream = EchoServer.Start(EchoServer.Mode.Http);
        await using var gateway = await TestGateway.StartAsync(Tunnels(upstream));

        await using var curl = ProcessRunner.Start("curl", ["-sS", "-p", "--proxy", gateway.HttpAddress.ToString(), $"http://{upstream.Address}/through/the/tunnel"]);

        Assert.Equal(0, await curl.WaitForExitAsync(s_timeout));
        // The upstream answers with the request line it read: curl's request went through, and the answer came back.
        Assert.Equal("GET /through/the/tunnel HTTP/1.1", curl.StandardOutput.Trim());
        var opened = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TunnelOpened");
        Assert.Contains($"(connect) opened on connect from 127.0.0.1:", opened.Message, StringComparison.Ordinal);
        Assert.EndsWith($"as anonymous to {upstream.Address}", opened.Message, StringComparison.Ordinal);
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed" && line.Message.Contains("(connect)", StringComparison.Ordinal));
        Assert.DoesNotContain("in 0 bytes", closed.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("out 0 bytes", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_http_request_connect_gets_a_socket_whose_half_close_reaches_the_destination()
    {
        await using var echo = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        await using var gateway = await TestGateway.StartAsync(Tunnels(echo));

        // The script writes its text and ends its side; the echo server answers, and closes only once it has read the end.
        await using var node = ProcessRunner.Start("node", ["tunnel-client.js", "connect", gateway.HttpAddress.Port.ToString(), echo.Address, "hello through the tunnel"],
            workingDirectory: RepositoryPaths.InteropSource);

        await node.WaitForOutputAsync(output => output.Contains("closed\n", StringComparison.Ordinal), s_timeout);
        Assert.Equal(["status 200", "recv hello through the tunnel", "end", "closed"], Lines(node.StandardOutput));
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed" && line.Message.Contains("(connect)", StringComparison.Ordinal));
        Assert.Contains("in 24 bytes 0 messages, out 24 bytes", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_destination_outside_the_allow_list_is_refused_with_403_and_nothing_is_connected()
    {
        await using var allowed = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        await using var other = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        await using var gateway = await TestGateway.StartAsync(Tunnels(allowed));

        var (head, body) = await RawConnect.RefusedAsync(gateway, other.Address);
        // As written only: the same server by another name is another destination.
        var (byName, _) = await RawConnect.RefusedAsync(gateway, $"localhost:{other.Port}");
        await using var curl = ProcessRunner.Start("curl", ["-sS", "-p", "--proxy", gateway.HttpAddress.ToString(), $"http://{other.Address}/"]);

        Assert.StartsWith("HTTP/1.1 403 ", head, StringComparison.Ordinal);
        Assert.Contains("Content-Type: application/problem+json", head, StringComparison.Ordinal);
        Assert.Contains("is not in Gateway:Tunnels:Connect:Allow", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("HTTP/1.1 403 ", byName, StringComparison.Ordinal);
        Assert.NotEqual(0, await curl.WaitForExitAsync(s_timeout));
        Assert.Contains("403", curl.StandardError, StringComparison.Ordinal);
        Assert.Equal(0, other.Accepted);
        var refused = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TunnelRefused");
        Assert.Equal(LogLevel.Warning, refused.Level);
        Assert.Contains($"CONNECT to {other.Address} from 127.0.0.1:", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_is_off_with_an_empty_allow_list_and_answers_405()
    {
        await using var echo = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        await using var gateway = await TestGateway.StartAsync($"Gateway:Tunnels:Bridges:echo:Target={echo.Address}");

        var (head, body) = await RawConnect.RefusedAsync(gateway, echo.Address);

        Assert.StartsWith("HTTP/1.1 405 ", head, StringComparison.Ordinal);
        Assert.Contains("Gateway:Tunnels:Connect:Allow lists no destination", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, echo.Accepted);
    }

    [Fact]
    public async Task An_unreachable_destination_is_answered_502()
    {
        await using var echo = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        var down = echo.Address;
        await echo.DisposeAsync();
        await using var gateway = await TestGateway.StartAsync($"Gateway:Tunnels:Connect:Allow:0={down}", $"Gateway:Tunnels:Bridges:down:Target={down}");

        var (head, body) = await RawConnect.RefusedAsync(gateway, down);
        await using var node = ProcessRunner.Start("node", ["tunnel-client.js", "bridge", $"ws://127.0.0.1:{gateway.HttpAddress.Port}/tunnel/down", "00"],
            workingDirectory: RepositoryPaths.InteropSource);

        Assert.StartsWith("HTTP/1.1 502 ", head, StringComparison.Ordinal);
        Assert.Contains("connection refused", body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await node.WaitForOutputAsync(output => output.Contains("status 502", StringComparison.Ordinal), s_timeout);
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TunnelRefused" && line.Message.StartsWith("WebSocket tunnel", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_authentication_required_a_tunnel_needs_an_api_key()
    {
        await using var echo = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        await using var upstream = EchoServer.Start(EchoServer.Mode.Http);
        await using var gateway = await TestGateway.StartAsync(Authenticated(echo, upstream));

        var (noKey, noKeyBody) = await RawConnect.RefusedAsync(gateway, echo.Address);
        var (wrongKey, _) = await RawConnect.RefusedAsync(gateway, echo.Address, "Proxy-Authorization: Bearer not-the-key");
        await using var bridgeWithout = ProcessRunner.Start("node", ["tunnel-client.js", "bridge", $"ws://127.0.0.1:{gateway.HttpAddress.Port}/tunnel/echo", "00"],
            workingDirectory: RepositoryPaths.InteropSource);
        await bridgeWithout.WaitForOutputAsync(output => output.Contains("status ", StringComparison.Ordinal), s_timeout);
        Assert.Equal(0, echo.Accepted);

        Assert.StartsWith("HTTP/1.1 407 ", noKey, StringComparison.Ordinal);
        Assert.Contains("Proxy-Authenticate: Bearer", noKey, StringComparison.Ordinal);
        Assert.Equal("Authentication required", noKeyBody.GetProperty("title").GetString());
        Assert.StartsWith("HTTP/1.1 407 ", wrongKey, StringComparison.Ordinal);
        Assert.Contains("status 401", bridgeWithout.StandardOutput, StringComparison.Ordinal);

        // curl's --proxy-header sends the key to the proxy only; X-Api-Key works too, and the WebSocket takes it as /ws does.
        await using var curl = ProcessRunner.Start("curl", ["-sS", "-p", "--proxy", gateway.HttpAddress.ToString(), "--proxy-header", $"Proxy-Authorization: Bearer {Key}",
            $"http://{upstream.Address}/with/a/key"]);
        await using var tunnel = await RawConnect.OpenAsync(gateway, echo.Address, $"X-Api-Key: {Key}");
        await using var bridge = ProcessRunner.Start("node", ["tunnel-client.js", "bridge", $"ws://127.0.0.1:{gateway.HttpAddress.Port}/tunnel/echo", "6b6579", Key],
            workingDirectory: RepositoryPaths.InteropSource);

        Assert.Equal(0, await curl.WaitForExitAsync(s_timeout));
        Assert.Equal("GET /with/a/key HTTP/1.1", curl.StandardOutput.Trim());
        Assert.Equal("raw", await tunnel.EchoAsync("raw"));
        await bridge.WaitForOutputAsync(output => output.Contains("recv binary:6b6579", StringComparison.Ordinal), s_timeout);
        var opened = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TunnelOpened" && line.Message.Contains("(tunnel)", StringComparison.Ordinal));
        Assert.Contains("as ops to", opened.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connect_over_https_takes_the_client_certificate_as_the_identity_authentication_requires()
    {
        await using var echo = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        await using var upstream = EchoServer.Start(EchoServer.Mode.Http);
        await using var gateway = await TestGateway.StartAsync([.. Authenticated(echo, upstream),
            "Gateway:Https:Port=0",
            $"Gateway:Https:Certificate:Path={certificates.ServerCertificate}",
            $"Gateway:Https:Certificate:KeyPath={certificates.ServerKey}",
            "Gateway:Https:ClientCertificateMode=AllowCertificate",
            $"Gateway:Https:ClientCertificateAuthority={certificates.CaCertificate}"]);
        var proxy = gateway.HttpsAddress.ToString();
        var (certificate, key) = certificates.Client("device1");

        // curl speaks TLS to the proxy itself (an HTTPS proxy), then CONNECTs inside that TLS connection.
        await using var withCertificate = ProcessRunner.Start("curl", ["-sS", "-p", "--proxy", proxy, "--proxy-cacert", certificates.CaCertificate,
            "--proxy-cert", certificate, "--proxy-key", key, $"http://{upstream.Address}/over/tls"]);
        Assert.Equal(0, await withCertificate.WaitForExitAsync(s_timeout));
        Assert.Equal("GET /over/tls HTTP/1.1", withCertificate.StandardOutput.Trim());
        var opened = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TunnelOpened");
        Assert.Contains($"as device1 to {upstream.Address}", opened.Message, StringComparison.Ordinal);

        await using var without = ProcessRunner.Start("curl", ["-sS", "-p", "--proxy", proxy, "--proxy-cacert", certificates.CaCertificate,
            $"http://{upstream.Address}/no/identity"]);
        Assert.NotEqual(0, await without.WaitForExitAsync(s_timeout));
        Assert.Contains("407", without.StandardError, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Node_ws_through_a_bridge_round_trips_binary_and_text_is_refused_with_1003()
    {
        await using var echo = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        await using var gateway = await TestGateway.StartAsync(Tunnels(echo));
        var url = $"ws://127.0.0.1:{gateway.HttpAddress.Port}/tunnel/";

        await using var binary = ProcessRunner.Start("node", ["tunnel-client.js", "bridge", url + "echo", "00ff68690a"], workingDirectory: RepositoryPaths.InteropSource);
        await using var text = ProcessRunner.Start("node", ["tunnel-client.js", "bridge", url + "echo", "text:hi"], workingDirectory: RepositoryPaths.InteropSource);
        await using var unknown = ProcessRunner.Start("node", ["tunnel-client.js", "bridge", url + "nosuch", "00"], workingDirectory: RepositoryPaths.InteropSource);

        await binary.WaitForOutputAsync(output => output.Contains("recv binary:00ff68690a", StringComparison.Ordinal), s_timeout);
        await text.WaitForOutputAsync(output => output.Contains("close ", StringComparison.Ordinal), s_timeout);
        Assert.Contains("close 1003 text messages are not carried; send binary", text.StandardOutput, StringComparison.Ordinal);
        await unknown.WaitForOutputAsync(output => output.Contains("status ", StringComparison.Ordinal), s_timeout);
        Assert.Contains("status 404", unknown.StandardOutput, StringComparison.Ordinal);
        var opened = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TunnelOpened" && line.Message.Contains("(tunnel)", StringComparison.Ordinal));
        Assert.EndsWith($"to {echo.Address}", opened.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Live_tunnels_are_listed_with_their_destination_and_traffic_and_can_be_disconnected()
    {
        await using var echo = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        await using var gateway = await TestGateway.StartAsync(Tunnels(echo));
        await using var tunnel = await RawConnect.OpenAsync(gateway, echo.Address);
        Assert.Equal("12345", await tunnel.EchoAsync("12345"));
        using var bridge = await BridgeAsync(gateway);
        await bridge.SendAsync("abc"u8.ToArray(), WebSocketMessageType.Binary, true, CancellationToken.None);
        Assert.Equal("abc", (await ReceiveAsync(bridge)).Text);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        var connections = (await http.GetFromJsonAsync<JsonElement[]>("/api/connections"))!;

        var connect = Assert.Single(connections, c => c.GetProperty("protocol").GetString() == "connect");
        Assert.Equal("connect", connect.GetProperty("endpoint").GetString());
        Assert.Equal(echo.Address, connect.GetProperty("destination").GetString());
        Assert.Equal(5, connect.GetProperty("bytesIn").GetInt64());
        Assert.Equal(5, connect.GetProperty("bytesOut").GetInt64());
        var bridged = Assert.Single(connections, c => c.GetProperty("protocol").GetString() == "tunnel");
        Assert.Equal(echo.Address, bridged.GetProperty("destination").GetString());
        Assert.Equal(3, bridged.GetProperty("bytesIn").GetInt64());
        Assert.Equal(1, bridged.GetProperty("messagesIn").GetInt64());

        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/connections/{connect.GetProperty("id").GetString()}")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/api/connections/{bridged.GetProperty("id").GetString()}")).StatusCode);

        Assert.True(await tunnel.WaitForEndAsync(), "the CONNECT client stayed connected");
        var (type, _) = await ReceiveAsync(bridge);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.NormalClosure, bridge.CloseStatus);
        await Eventually.TrueAsync(async () => (await http.GetFromJsonAsync<JsonElement[]>("/api/connections"))!.Length == 0, "the tunnels left the list");
        Assert.Equal(2, gateway.Logs.Lines.Count(line => line.EventId.Name == "ConnectionClosed" && line.Message.Contains("(closed by admin)", StringComparison.Ordinal)));
        await Eventually.TrueAsync(() => echo.Open == 0, "the destination's connections closed");
    }

    [Fact]
    public async Task Shutdown_ends_open_tunnels_cleanly()
    {
        await using var echo = EchoServer.Start(EchoServer.Mode.EchoUntilEnd);
        var gateway = await TestGateway.StartAsync(Tunnels(echo));
        await using var tunnel = await RawConnect.OpenAsync(gateway, echo.Address);
        Assert.Equal("x", await tunnel.EchoAsync("x"));
        using var bridge = await BridgeAsync(gateway);
        await gateway.WaitForConnectionsAsync(2);
        var receiving = ReceiveAsync(bridge);

        await gateway.DisposeAsync();

        Assert.True(await tunnel.WaitForEndAsync(), "the CONNECT client stayed connected");
        Assert.Equal(WebSocketMessageType.Close, (await receiving).Type);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, bridge.CloseStatus);
        Assert.Equal(2, gateway.Logs.Lines.Count(line => line.EventId.Name == "ConnectionClosed" && line.Message.Contains("(server shutting down)", StringComparison.Ordinal)));
        await Eventually.TrueAsync(() => echo.Open == 0, "the destination's connections closed");
    }

    [Theory]
    [InlineData("Gateway:Tunnels:Bridges:ssh:Target=x", "Gateway:Tunnels:Bridges:ssh:Target 'x' is not host:port")]
    [InlineData("Gateway:Tunnels:Bridges:ssh:Target=127.0.0.1:0", "Gateway:Tunnels:Bridges:ssh:Target '127.0.0.1:0' is not host:port")]
    [InlineData("Gateway:Tunnels:Connect:Allow:0=db internal:5432", "Gateway:Tunnels:Connect:Allow:0 'db internal:5432' is not host:port")]
    [InlineData("Gateway:Tunnels:ConnectTimeout=00:00:00", "Gateway:Tunnels:ConnectTimeout must be positive")]
    [InlineData("Gateway:Tunnels:Bridges:ssh:Targt=127.0.0.1:22", "Gateway:Tunnels:Bridges:ssh:Targt is not a setting")]
    public async Task A_bad_tunnel_setting_stops_the_start_and_names_it(string setting, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(setting));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    private static string[] Lines(string output) => output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static async Task<ClientWebSocket> BridgeAsync(TestGateway gateway)
    {
        var socket = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(s_timeout);
        await socket.ConnectAsync(new Uri($"ws://127.0.0.1:{gateway.HttpAddress.Port}/tunnel/echo"), timeout.Token);
        return socket;
    }

    private static async Task<(WebSocketMessageType Type, string Text)> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(s_timeout);
        var result = await socket.ReceiveAsync(buffer, timeout.Token);
        return (result.MessageType, Encoding.UTF8.GetString(buffer, 0, result.Count));
    }

    /// <summary>A CONNECT written by hand on a socket, to read exactly what the gateway answers.</summary>
    private sealed class RawConnect : IAsyncDisposable
    {
        private readonly TcpClient _client;
        private readonly NetworkStream _stream;

        private RawConnect(TcpClient client)
        {
            _client = client;
            _stream = client.GetStream();
        }

        /// <summary>Sends a CONNECT expected to be refused; returns the response head and its problem body.</summary>
        public static async Task<(string Head, JsonElement Problem)> RefusedAsync(TestGateway gateway, string target, params string[] headers)
        {
            await using var connect = await SendAsync(gateway, target, headers);
            var response = Encoding.ASCII.GetString(await connect.ReadToEndAsync());
            var split = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            Assert.True(split > 0, "no response head: " + response);
            var (head, body) = (response[..split], response[(split + 4)..]);
            if (head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)) body = Unchunk(body);
            return (head, JsonDocument.Parse(body).RootElement);
        }

        /// <summary>The body of a chunked response (HTTP's answer to a CONNECT it refuses): size line, data, CRLF, until size 0.</summary>
        private static string Unchunk(string chunked)
        {
            var body = new StringBuilder();
            for (var at = 0; ;)
            {
                var lineEnd = chunked.IndexOf("\r\n", at, StringComparison.Ordinal);
                var size = Convert.ToInt32(chunked[at..lineEnd], 16);
                if (size == 0) return body.ToString();
                body.Append(chunked, lineEnd + 2, size);
                at = lineEnd + 2 + size + 2;
            }
        }

        /// <summary>Opens a tunnel: asserts the 200.</summary>
        public static async Task<RawConnect> OpenAsync(TestGateway gateway, string target, params string[] headers)
        {
            var connect = await SendAsync(gateway, target, headers);
            var established = "HTTP/1.1 200 Connection Established\r\n\r\n";
            Assert.Equal(established, Encoding.ASCII.GetString(await connect.ReadExactlyAsync(established.Length)));
            return connect;
        }

        public async Task<string> EchoAsync(string text)
        {
            await _stream.WriteAsync(Encoding.ASCII.GetBytes(text));
            return Encoding.ASCII.GetString(await ReadExactlyAsync(text.Length));
        }

        /// <summary>Whether the gateway closes the connection (a read returns 0, or the connection resets) within the timeout.</summary>
        public async Task<bool> WaitForEndAsync()
        {
            using var timeout = new CancellationTokenSource(s_timeout);
            try
            {
                return await _stream.ReadAsync(new byte[16], timeout.Token) == 0;
            }
            catch (IOException)
            {
                return true;
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }

        private static async Task<RawConnect> SendAsync(TestGateway gateway, string target, string[] headers)
        {
            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, gateway.HttpAddress.Port);
            var connect = new RawConnect(client);
            var head = $"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n" + string.Concat(headers.Select(header => header + "\r\n")) + "\r\n";
            await connect._stream.WriteAsync(Encoding.ASCII.GetBytes(head));
            return connect;
        }

        private async Task<byte[]> ReadExactlyAsync(int count)
        {
            var buffer = new byte[count];
            using var timeout = new CancellationTokenSource(s_timeout);
            await _stream.ReadExactlyAsync(buffer, timeout.Token);
            return buffer;
        }

        private async Task<byte[]> ReadToEndAsync()
        {
            using var timeout = new CancellationTokenSource(s_timeout);
            using var all = new MemoryStream();
            await _stream.CopyToAsync(all, timeout.Token);
            return all.ToArray();
        }

        public ValueTask DisposeAsync()
        {
            _client.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    /// <summary>A TCP server on a free loopback port, counting the connections it accepts and those still open.</summary>
    private sealed class EchoServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Mode _mode;
        private readonly Task _accepting;
        private int _accepted;
        private int _open;

        public enum Mode
        {
            /// <summary>Echoes every byte; closes once the client has ended its side.</summary>
            EchoUntilEnd,

            /// <summary>Reads one HTTP request head and answers with its request line as the body, then closes.</summary>
            Http,
        }

        private EchoServer(Mode mode)
        {
            _mode = mode;
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public static EchoServer Start(Mode mode) => new(mode);

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public string Address => $"127.0.0.1:{Port}";

        public int Accepted => Volatile.Read(ref _accepted);

        public int Open => Volatile.Read(ref _open);

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Interlocked.Increment(ref _accepted);
                    Interlocked.Increment(ref _open);
                    _ = ServeAsync(client);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            try
            {
                using (client)
                {
                    var stream = client.GetStream();
                    if (_mode == Mode.Http)
                    {
                        using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
                        var requestLine = await reader.ReadLineAsync(_stop.Token) ?? "";
                        while (!string.IsNullOrEmpty(await reader.ReadLineAsync(_stop.Token)))
                        {
                        }

                        var body = requestLine + "\n";
                        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n{body}"), _stop.Token);
                        return;
                    }

                    var buffer = new byte[4096];
                    int read;
                    while ((read = await stream.ReadAsync(buffer, _stop.Token)) > 0)
                        await stream.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException)
            {
            }
            finally
            {
                Interlocked.Decrement(ref _open);
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (_stop.IsCancellationRequested) return;
            _stop.Cancel();
            _listener.Stop();
            await _accepting;
        }
    }
}
