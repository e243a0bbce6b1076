using System.Net.Http.Json;
using System.Text.Json;
using Gateway.Connections;
using Gateway.Http;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Gateway.WebSockets;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Security;

/// <summary>HTTPS on its own port carries the API, server-sent events and WebSocket (wss); curl, Node's `ws` and HttpClient as clients.</summary>
public sealed class HttpsTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    private string[] Https(string clientCertificateMode = "NoCertificate", params string[] extra) =>
    [
        "Gateway:Https:Port=0",
        $"Gateway:Https:Certificate:Path={certificates.ServerCertificate}",
        $"Gateway:Https:Certificate:KeyPath={certificates.ServerKey}",
        $"Gateway:Https:ClientCertificateMode={clientCertificateMode}",
        $"Gateway:Https:ClientCertificateAuthority={certificates.CaCertificate}",
        .. extra,
    ];

    [Fact]
    public async Task Curl_trusting_the_private_CA_publishes_over_HTTPS_to_an_event_stream_over_HTTPS()
    {
        await using var gateway = await TestGateway.StartAsync(Https());
        await using var stream = await SseClient.OpenAsync(gateway.HttpsAddress, "/api/topics/news/events", handler: certificates.HttpHandler());
        await gateway.WaitForConnectionsAsync(1);

        var published = await CurlAsync(["--cacert", certificates.CaCertificate, "-H", "Content-Type: text/plain", "-d", "over tls",
            $"{gateway.HttpsAddress}api/topics/news"]);

        Assert.Equal(0, published.Exit);
        Assert.Equal("news", JsonDocument.Parse(published.Output).RootElement.GetProperty("topic").GetString());
        var (_, data) = await stream.ReadEventAsync(s_timeout);
        Assert.Equal("over tls", data.GetProperty("text").GetString());

        // Without the private CA, curl cannot verify the server (exit 60): the port really is TLS with that certificate.
        var untrusted = await CurlAsync(["-d", "x", $"{gateway.HttpsAddress}api/topics/news"]);
        Assert.Equal(60, untrusted.Exit);
    }

    [Fact]
    public async Task Required_client_certificates_admit_curl_with_cert_and_key_and_refuse_it_without()
    {
        await using var gateway = await TestGateway.StartAsync(Https("RequireCertificate"));

        var admitted = await CurlAsync(["--cacert", certificates.CaCertificate, "--cert", certificates.Client("device1").Certificate,
            "--key", certificates.Client("device1").Key, "-d", "mutual", $"{gateway.HttpsAddress}api/topics/devices/device1/up"]);
        Assert.Equal(0, admitted.Exit);
        Assert.Contains("\"topic\":\"devices/device1/up\"", admitted.Output, StringComparison.Ordinal);

        var refused = await CurlAsync(["--cacert", certificates.CaCertificate, "-d", "anonymous", $"{gateway.HttpsAddress}api/topics/devices/x/up"]);
        Assert.NotEqual(0, refused.Exit);
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TlsHandshakeFailed" && line.Message.Contains(" on https ", StringComparison.Ordinal));

        // The plaintext port is unaffected, and lists the HTTPS endpoint with its failed handshake.
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var endpoints = await http.GetFromJsonAsync<List<AdminApi.EndpointInfo>>("/api/endpoints");
        var https = Assert.Single(endpoints!, endpoint => endpoint.Name == "https");
        Assert.True(https.Tls);
        Assert.Equal(1, https.FailedTlsHandshakes);
    }

    [Fact]
    public async Task An_event_stream_over_HTTPS_with_a_client_certificate_is_listed_with_its_identity()
    {
        await using var gateway = await TestGateway.StartAsync(Https("AllowCertificate"));
        await using var stream = await SseClient.OpenAsync(gateway.HttpsAddress, "/api/topics/alerts/events", handler: certificates.HttpHandler("device2"));
        await gateway.WaitForConnectionsAsync(1);

        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var connections = await http.GetFromJsonAsync<List<AdminApi.ConnectionInfo>>("/api/connections");

        var listed = Assert.Single(connections!);
        Assert.Equal(("https", "sse", "device2"), (listed.Endpoint, listed.Protocol, listed.Identity));
    }

    [Fact]
    public async Task Node_ws_over_wss_with_a_client_certificate_gets_what_a_TCP_device_publishes()
    {
        await using var gateway = await TestGateway.StartAsync(Https("RequireCertificate",
            "Gateway:Endpoints:lines:Port=0",
            "Gateway:Endpoints:lines:Framing:Kind=Line",
            "Gateway:Endpoints:lines:Publish=alerts/{connectionId}"));
        var (certificate, key) = certificates.Client("device2");
        await using var node = ProcessRunner.Start("node",
            ["ws-client.js", $"wss://localhost:{gateway.HttpsAddress.Port}/ws?subscribe=alerts/%23", "1"],
            new Dictionary<string, string> { ["WS_CA"] = certificates.CaCertificate, ["WS_CERT"] = certificate, ["WS_KEY"] = key },
            workingDirectory: RepositoryPaths.InteropSource);
        await node.WaitForOutputAsync(output => output.Contains("open", StringComparison.Ordinal), s_timeout);
        await gateway.WaitForConnectionsAsync(1);
        // The socket carries TLS records: frames must go through Kestrel's stream, never straight to the socket.
        var connection = Assert.Single(gateway.Services.GetRequiredService<ConnectionRegistry>().All.Select(session => session.Control).OfType<WebSocketConnection>());
        Assert.False(connection.SendsDirectly);

        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await device.SendLineAsync("smoke in hall 2");

        await node.WaitForOutputAsync(output => output.Contains("recv smoke in hall 2", StringComparison.Ordinal), s_timeout);
        var opened = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionOpened" && line.Message.Contains("(wss)", StringComparison.Ordinal));
        Assert.Contains("on wss from", opened.Message, StringComparison.Ordinal);
        Assert.Contains("as device2", opened.Message, StringComparison.Ordinal);
    }

    private static async Task<(int Exit, string Output)> CurlAsync(string[] arguments)
    {
        await using var curl = ProcessRunner.Start("curl", ["-sS", "--max-time", "10", .. arguments]);
        var exit = await curl.WaitForExitAsync(s_timeout);
        return (exit, curl.StandardOutput);
    }
}
