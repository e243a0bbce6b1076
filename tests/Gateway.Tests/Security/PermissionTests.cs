using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gateway.Http;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Udp;
using static Gateway.Tests.WebSockets.WebSocketClient;

namespace Gateway.Tests.Security;

/// <summary>
/// Per-identity publish and subscribe allow-lists, API keys and the admin permission, on every protocol: a denied
/// publish is answered with 403 over HTTP, an error envelope or close code over WebSocket, and a logged, counted drop
/// on TCP and UDP.
/// </summary>
public sealed class PermissionTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    private const string OpsKey = "ops-key-0123456789abcdef0123456789abcdef";
    private const string SensorKey = "sensor-key-fedcba9876543210fedcba98765432";

    /// <summary>
    /// ops may do everything; sensor may publish and subscribe under sensors/; device1 only its own topics; everyone
    /// else (anonymous, device2) only under public/. Plaintext TCP "lines" publishes to secret/, which nobody anonymous may.
    /// </summary>
    private string[] Settings(params string[] extra) =>
    [
        "Gateway:Security:ApiKeys:0:Identity=ops",
        $"Gateway:Security:ApiKeys:0:Sha256={Digest(OpsKey)}",
        "Gateway:Security:ApiKeys:1:Identity=sensor",
        $"Gateway:Security:ApiKeys:1:Sha256={Digest(SensorKey)}",
        "Gateway:Security:Permissions:ops:Publish:0=#",
        "Gateway:Security:Permissions:ops:Subscribe:0=#",
        "Gateway:Security:Permissions:ops:Admin=true",
        "Gateway:Security:Permissions:sensor:Publish:0=sensors/#",
        "Gateway:Security:Permissions:sensor:Subscribe:0=sensors/#",
        "Gateway:Security:Permissions:device1:Publish:0=devices/device1/up",
        "Gateway:Security:Permissions:device1:Subscribe:0=devices/device1/down",
        "Gateway:Security:DefaultPermissions:Publish:0=public/#",
        "Gateway:Security:DefaultPermissions:Subscribe:0=public/#",
        "Gateway:Endpoints:lines:Port=0",
        "Gateway:Endpoints:lines:Framing:Kind=Line",
        "Gateway:Endpoints:lines:Publish=secret/{connectionId}",
        "Gateway:Endpoints:lines:Subscribe:0=public/#",
        "Gateway:Endpoints:lines:Subscribe:1=secret/#",
        .. extra,
    ];

    private static string Digest(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private static HttpClient Http(TestGateway gateway, string? key = null)
    {
        var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        if (key is not null) http.DefaultRequestHeaders.Add("X-Api-Key", key);
        return http;
    }

    [Fact]
    public async Task Http_publish_outside_the_callers_permissions_gets_403_and_is_counted()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var anonymous = Http(gateway);
        using var ops = Http(gateway, OpsKey);
        using var sensor = new HttpClient { BaseAddress = gateway.HttpAddress };
        sensor.DefaultRequestHeaders.Authorization = new("Bearer", SensorKey);

        Assert.Equal(HttpStatusCode.OK, (await anonymous.PostAsync("/api/topics/public/news", new StringContent("hi"))).StatusCode);
        var denied = await anonymous.PostAsync("/api/topics/secret/plans", new StringContent("leak"));
        Assert.Equal(HttpStatusCode.Forbidden, denied.StatusCode);
        var problem = await denied.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("anonymous may not publish to 'secret/plans'.", problem.GetProperty("detail").GetString());

        Assert.Equal(HttpStatusCode.OK, (await sensor.PostAsync("/api/topics/sensors/t1", new StringContent("21"))).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await sensor.PostAsync("/api/topics/secret/plans", new StringContent("x"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ops.PostAsync("/api/topics/secret/plans", new StringContent("ok"))).StatusCode);

        var endpoints = await ops.GetFromJsonAsync<List<AdminApi.EndpointInfo>>("/api/endpoints");
        Assert.Equal(2, Assert.Single(endpoints!, endpoint => endpoint.Name == "http").DeniedPublishes);
        var refused = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "RequestRefused" && line.Message.Contains("as sensor", StringComparison.Ordinal));
        Assert.Contains("POST /api/topics/secret/plans", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_API_key_gets_401_even_where_anonymous_callers_are_allowed()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var wrong = Http(gateway, "not-a-key");

        var response = await wrong.PostAsync("/api/topics/public/news", new StringContent("hi"));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Admin_routes_need_the_admin_permission()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var anonymous = Http(gateway);
        using var sensor = Http(gateway, SensorKey);
        using var ops = Http(gateway, OpsKey);

        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/api/connections")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await sensor.GetAsync("/api/endpoints")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await sensor.DeleteAsync("/api/connections/nobody")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ops.GetAsync("/api/connections")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ops.DeleteAsync("/api/connections/nobody")).StatusCode);
    }

    [Fact]
    public async Task Event_streams_need_a_subscribe_permission_that_includes_their_filter()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var anonymous = Http(gateway);

        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/api/topics/%23/events")).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await anonymous.GetAsync("/api/topics/secret/%2B/events")).StatusCode);
        await using var allowed = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/public/%23/events");
        Assert.Equal(HttpStatusCode.OK, allowed.Response.StatusCode);
        await using var ops = await SseClient.OpenAsync(gateway.HttpAddress, $"/api/topics/%23/events?access_token={OpsKey}");
        Assert.Equal(HttpStatusCode.OK, ops.Response.StatusCode);
    }

    [Fact]
    public async Task Raw_websocket_publishing_where_it_may_not_is_closed_with_1008_and_nothing_is_delivered()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var watcher = await ConnectAsync(gateway, $"?subscribe=secret/%23&access_token={OpsKey}");
        using var socket = await ConnectAsync(gateway, "?publish=secret/ws");
        await gateway.WaitForConnectionsAsync(2);

        await SendTextAsync(socket, "leak");

        var (type, _) = await ReceiveAsync(socket);
        Assert.Equal(WebSocketMessageType.Close, type);
        Assert.Equal(WebSocketCloseStatus.PolicyViolation, socket.CloseStatus);
        Assert.Equal("anonymous may not publish to 'secret/ws'", socket.CloseStatusDescription);
        // The watcher's first message is one published after the denied one: the denied one was dropped.
        using var ops = Http(gateway, OpsKey);
        await ops.PostAsync("/api/topics/secret/after", new StringContent("after"));
        Assert.Equal((WebSocketMessageType.Text, "after"), await ReceiveAsync(watcher));
        var endpoints = await ops.GetFromJsonAsync<List<AdminApi.EndpointInfo>>("/api/endpoints");
        Assert.Equal(1, Assert.Single(endpoints!, endpoint => endpoint.Name == "ws").DeniedPublishes);
    }

    [Fact]
    public async Task Raw_websocket_subscribing_where_it_may_not_is_refused_with_403_before_the_upgrade()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;

        await Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(WsUri(gateway, "?subscribe=secret/%23"), CancellationToken.None));

        Assert.Equal(HttpStatusCode.Forbidden, socket.HttpStatusCode);
    }

    [Fact]
    public async Task Envelope_commands_outside_the_permissions_get_a_forbidden_error_envelope_and_the_socket_stays_open()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var socket = await ConnectAsync(gateway, subprotocol: "gateway.v1.json");

        await SendTextAsync(socket, """{"op":"publish","topic":"secret/x","text":"leak","id":"p1"}""");
        var publishError = JsonSerializer.Deserialize<JsonElement>((await ReceiveAsync(socket)).Text);
        await SendTextAsync(socket, """{"op":"subscribe","filter":"#","id":"s1"}""");
        var subscribeError = JsonSerializer.Deserialize<JsonElement>((await ReceiveAsync(socket)).Text);
        await SendTextAsync(socket, """{"op":"publish","topic":"public/x","text":"fine","id":"p2"}""");

        Assert.Equal(("error", "p1", "forbidden"), (publishError.GetProperty("op").GetString(), publishError.GetProperty("id").GetString(), publishError.GetProperty("code").GetString()));
        Assert.Equal("anonymous may not publish to 'secret/x'.", publishError.GetProperty("error").GetString());
        Assert.Equal(("error", "s1", "forbidden"), (subscribeError.GetProperty("op").GetString(), subscribeError.GetProperty("id").GetString(), subscribeError.GetProperty("code").GetString()));
        Assert.Equal("""{"op":"ack","id":"p2"}""", (await ReceiveAsync(socket)).Text);
    }

    [Fact]
    public async Task Tcp_frames_where_the_peer_may_not_publish_are_dropped_counted_and_logged_once()
    {
        await using var gateway = await TestGateway.StartAsync(Settings());
        using var watcher = await ConnectAsync(gateway, $"?subscribe=secret/%23&access_token={OpsKey}");
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(2);
        // Its subscription to secret/# was left out and logged; public/# works.
        var subscribeDenied = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "SubscribeDenied");
        Assert.Contains("secret/# by anonymous on lines", subscribeDenied.Message, StringComparison.Ordinal);

        await device.SendLineAsync("one");
        await device.SendLineAsync("two");
        await device.SendLineAsync("three");

        using var ops = Http(gateway, OpsKey);
        await Eventually.TrueAsync(async () => (await DeniedOnAsync(ops, "lines")) == 3, "three denied publishes counted on lines");
        Assert.Single(gateway.Logs.Lines, line => line.EventId.Name == "PublishDenied");
        await ops.PostAsync("/api/topics/secret/after", new StringContent("after"));
        Assert.Equal((WebSocketMessageType.Text, "after"), await ReceiveAsync(watcher));
        await ops.PostAsync("/api/topics/public/hello", new StringContent("still subscribed"));
        Assert.Equal("still subscribed", await device.ReadLineAsync(s_timeout));
        Assert.Equal(0, await DeniedOnAsync(ops, "http"));
    }

    [Fact]
    public async Task Client_certificate_identities_get_their_own_permissions_and_others_the_default()
    {
        await using var gateway = await TestGateway.StartAsync(Settings(certificates.DevicesEndpoint));
        await using var ups = await SseClient.OpenAsync(gateway.HttpAddress, $"/api/topics/devices/%2B/up/events?access_token={OpsKey}");
        await using var device1 = await TlsLineClient.ConnectAsync(gateway.EndPointOf("devices"), certificates.CaCertificate, certificates.Client("device1"));
        await using var device2 = await TlsLineClient.ConnectAsync(gateway.EndPointOf("devices"), certificates.CaCertificate, certificates.Client("device2"));
        await gateway.WaitForConnectionsAsync(3);

        await device2.SendLineAsync("from device2");
        await device1.SendLineAsync("from device1");

        var (_, data) = await ups.ReadEventAsync(s_timeout);
        Assert.Equal(("devices/device1/up", "from device1"), (data.GetProperty("topic").GetString(), data.GetProperty("text").GetString()));
        var denied = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "PublishDenied");
        Assert.Contains("devices/device2/up by device2 on devices", denied.Message, StringComparison.Ordinal);
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "SubscribeDenied" && line.Message.Contains("devices/device2/down by device2", StringComparison.Ordinal));

        using var ops = Http(gateway, OpsKey);
        await ops.PostAsync("/api/topics/devices/device1/down", new StringContent("for device1"));
        Assert.Equal("for device1", await device1.ReadLineAsync());
    }

    [Fact]
    public async Task Udp_datagrams_where_the_sender_may_not_publish_are_dropped_counted_and_logged()
    {
        await using var gateway = await TestGateway.StartAsync(Settings(
            "Gateway:Endpoints:udp:Protocol=Udp",
            "Gateway:Endpoints:udp:Port=0",
            "Gateway:Endpoints:udp:Publish=secret/udp/{remote}"));
        using var watcher = await ConnectAsync(gateway, $"?subscribe=secret/%23&access_token={OpsKey}");
        using var sender = new UdpTestClient(gateway.UdpEndPointOf("udp"));

        await sender.SendAsync("leak 1");
        await sender.SendAsync("leak 2");

        using var ops = Http(gateway, OpsKey);
        await Eventually.TrueAsync(async () => (await DeniedOnAsync(ops, "udp")) == 2, "two denied datagrams counted on udp");
        var denied = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "PublishDenied");
        Assert.Contains("by anonymous on udp", denied.Message, StringComparison.Ordinal);
        await ops.PostAsync("/api/topics/secret/after", new StringContent("after"));
        Assert.Equal((WebSocketMessageType.Text, "after"), await ReceiveAsync(watcher));
    }

    [Fact]
    public async Task Required_authentication_refuses_anonymous_API_and_WebSocket_callers_but_not_health()
    {
        await using var gateway = await TestGateway.StartAsync(Settings("Gateway:Security:RequireAuthentication=true"));
        using var anonymous = Http(gateway);
        using var sensor = Http(gateway, SensorKey);

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.PostAsync("/api/topics/public/x", new StringContent("x"))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await sensor.PostAsync("/api/topics/sensors/x", new StringContent("x"))).StatusCode);

        using var refused = new ClientWebSocket();
        refused.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(WsUri(gateway, "?subscribe=public/a"), CancellationToken.None));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.HttpStatusCode);
        using var admitted = await ConnectAsync(gateway, $"?subscribe=sensors/%23&access_token={SensorKey}");
        Assert.Equal(WebSocketState.Open, admitted.State);
    }

    [Fact]
    public async Task A_key_and_digest_made_as_the_README_shows_authenticate()
    {
        await using var openssl = ProcessRunner.Start("openssl", ["rand", "-hex", "32"]);
        await openssl.WaitForExitAsync(s_timeout);
        var key = openssl.StandardOutput.Trim();
        await using var sha256sum = ProcessRunner.Start("bash", ["-c", "printf %s \"$0\" | sha256sum | cut -d' ' -f1", key]);
        await sha256sum.WaitForExitAsync(s_timeout);
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Security:RequireAuthentication=true",
            "Gateway:Security:ApiKeys:0:Identity=console",
            $"Gateway:Security:ApiKeys:0:Sha256={sha256sum.StandardOutput.Trim()}");

        using var http = Http(gateway, key);

        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/api/connections")).StatusCode);
    }

    [Theory]
    [InlineData("Gateway:Security:ApiKeys:0:Sha256=secret", "Gateway:Security:ApiKeys:0:Sha256 must be the key's SHA-256")]
    [InlineData("Gateway:Security:Permissions:x:Publish:0=a/#/b", "Gateway:Security:Permissions:x:Publish:0: Invalid topic filter")]
    [InlineData("Gateway:Security:DefaultPermissions:Admin=perhaps", "Gateway:Security:DefaultPermissions:Admin")]
    public async Task Bad_security_settings_stop_the_start_naming_the_setting(string setting, string expected)
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(
            "Gateway:Security:ApiKeys:0:Identity=ops", $"Gateway:Security:ApiKeys:0:Sha256={Digest(OpsKey)}", setting));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requiring_authentication_with_no_way_to_authenticate_stops_the_start()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync("Gateway:Security:RequireAuthentication=true"));

        Assert.Contains("Gateway:Security:RequireAuthentication needs a way in", failure.Message, StringComparison.Ordinal);
    }

    private static async Task<long> DeniedOnAsync(HttpClient ops, string endpoint)
    {
        var endpoints = await ops.GetFromJsonAsync<List<AdminApi.EndpointInfo>>("/api/endpoints");
        return Assert.Single(endpoints!, candidate => candidate.Name == endpoint).DeniedPublishes;
    }
}
