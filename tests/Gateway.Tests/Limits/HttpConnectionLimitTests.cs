using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Security;

namespace Gateway.Tests.Limits;

/// <summary>
/// The HTTP host's own connection limits (<c>Gateway:Http:Limits</c>): connections per client address and new
/// connections per second, whatever their requests. A refused connection's requests get 429 with Retry-After.
/// </summary>
public sealed class HttpConnectionLimitTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    [Fact]
    public async Task A_connection_beyond_the_per_address_cap_gets_429_while_another_address_and_the_operators_reads_still_answer()
    {
        await using var gateway = await TestGateway.StartAsync("Gateway:Http:Limits:MaxConnectionsPerAddress=2");
        var endPoint = EndPointOf(gateway);
        using var first = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint);
        using var second = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint);
        Assert.StartsWith("HTTP/1.1 200", await PublishAsync(first));
        Assert.StartsWith("HTTP/1.1 200", await PublishAsync(second));

        using (var third = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint))
        {
            var refused = await PublishAsync(third);
            Assert.StartsWith("HTTP/1.1 429", refused);
            Assert.Contains("Retry-After: 1", refused);
            Assert.Contains("Connection: close", refused);
            Assert.Contains("127.0.0.1 holds Gateway:Http:Limits:MaxConnectionsPerAddress (2) connections", refused);
        }

        using (var fourth = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint))
        {
            // What an operator reads to see and relieve a flood answers on a refused connection too.
            Assert.StartsWith("HTTP/1.1 200", await SendAsync(fourth, "GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"));
        }

        using var other = await SourceAddress.ConnectFromAsync(IPAddress.Parse("127.0.0.2"), endPoint);
        Assert.StartsWith("HTTP/1.1 200", await PublishAsync(other));
        // The first two keep their connections and their traffic.
        Assert.StartsWith("HTTP/1.1 200", await PublishAsync(first));

        // A connection that ends gives its address's place back.
        first.Dispose();
        await Eventually.TrueAsync(async () =>
        {
            using var again = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint);
            return (await PublishAsync(again)).StartsWith("HTTP/1.1 200", StringComparison.Ordinal);
        }, "a new connection from 127.0.0.1 admitted after one of its two ended");

        Assert.InRange((await gateway.RejectionsAsync("http"))["max_connections_per_address"], 2, 20);
        var line = gateway.Logs.Lines.First(line => line.EventId.Name == "PeerRefused");
        Assert.Contains("127.0.0.1 holds Gateway:Http:Limits:MaxConnectionsPerAddress (2) connections", line.Message);
    }

    [Fact]
    public async Task Connections_beyond_the_accept_rate_get_429_and_are_counted()
    {
        const int Attempts = 20;
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Http:Limits:ConnectionsPerSecond=3", "Gateway:Http:Limits:ConnectionBurst=3");
        var endPoint = EndPointOf(gateway);

        var answers = new List<string>();
        for (var i = 0; i < Attempts; i++)
        {
            using var connection = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint);
            answers.Add((await PublishAsync(connection))[..12]);
        }

        // The burst passes, then a few more as the bucket refills (3 a second); the rest of a storm does not.
        var admitted = answers.Count(answer => answer == "HTTP/1.1 200");
        var refused = answers.Count(answer => answer == "HTTP/1.1 429");
        Assert.Equal(Attempts, admitted + refused);
        Assert.InRange(admitted, 3, 10);
        // The admin API's connection needs a place too (the operators' reads answer even when refused, but are counted).
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(refused, (await gateway.RejectionsAsync("http"))["accept_rate"]);
    }

    [Fact]
    public async Task A_CONNECT_on_a_refused_connection_gets_429_and_opens_no_tunnel()
    {
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Http:Limits:MaxConnectionsPerAddress=1", "Gateway:Tunnels:Connect:Allow:0=127.0.0.1:9");
        var endPoint = EndPointOf(gateway);
        using var held = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint);
        Assert.StartsWith("HTTP/1.1 200", await PublishAsync(held));

        using var refused = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint);
        var answer = await SendAsync(refused, "CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 429", answer);
        Assert.Contains("MaxConnectionsPerAddress (1)", answer);
        // The CONNECT's connection, and the admin API's own (refused as well, and answered: the operators' reads are).
        Assert.Equal(2, (await gateway.RejectionsAsync("http"))["max_connections_per_address"]);
    }

    [Fact]
    public async Task The_HTTPS_port_refuses_the_same_way_after_its_handshake_and_counts_on_https()
    {
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Http:Limits:MaxConnectionsPerAddress=1",
            "Gateway:Https:Port=0",
            $"Gateway:Https:Certificate:Path={certificates.ServerCertificate}",
            $"Gateway:Https:Certificate:KeyPath={certificates.ServerKey}");
        // Each client holds one connection of its own: the first takes the address's place, the second is refused.
        using var first = new HttpClient(certificates.HttpHandler()) { BaseAddress = gateway.HttpsAddress };
        using var second = new HttpClient(certificates.HttpHandler()) { BaseAddress = gateway.HttpsAddress };

        using var admitted = await first.PostAsync("/api/topics/t", new StringContent("x"));
        using var refused = await second.PostAsync("/api/topics/t", new StringContent("x"));

        Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(1), refused.Headers.RetryAfter?.Delta);
        Assert.Equal(1, (await gateway.RejectionsAsync("https"))["max_connections_per_address"]);
    }

    private static IPEndPoint EndPointOf(TestGateway gateway) => new(IPAddress.Loopback, gateway.HttpAddress.Port);

    private static Task<string> PublishAsync(Socket connection) =>
        SendAsync(connection, "POST /api/topics/t HTTP/1.1\r\nHost: gateway\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx");

    /// <summary>Sends one request; returns its whole response, head and body (sized or chunked).</summary>
    private static async Task<string> SendAsync(Socket connection, string request)
    {
        await connection.SendAsync(Encoding.ASCII.GetBytes(request));
        var response = new StringBuilder();
        var buffer = new byte[4096];
        while (!IsComplete(response.ToString()))
        {
            var received = await connection.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10));
            if (received == 0) break;
            response.Append(Encoding.UTF8.GetString(buffer, 0, received));
        }

        return response.ToString();
    }

    private static bool IsComplete(string response)
    {
        var headEnd = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        if (headEnd < 0) return false;
        var head = response[..headEnd];
        var body = response[(headEnd + 4)..];
        if (head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)) return body.EndsWith("0\r\n\r\n", StringComparison.Ordinal);
        var length = head.Split("\r\n").FirstOrDefault(line => line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase));
        return length is null || Encoding.UTF8.GetByteCount(body) >= int.Parse(length["Content-Length:".Length..].Trim());
    }
}
