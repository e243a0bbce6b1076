using System.Net;
using System.Text;
using System.Text.Json;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Security;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gateway.Tests.Routing;

/// <summary>
/// Routes to real HTTP services: a device's frames become requests, answers come back through the reply topic, and
/// every scripted fault ends as the accounting says (matched = succeeded + failed + in flight + queued + dropped).
/// </summary>
public sealed class HttpRouteTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    /// <summary>A line endpoint "devices" and a route "svc" from its frames to <paramref name="url"/>, with fast retries.</summary>
    private static string[] Settings(Uri url, params string[] more) =>
    [
        "Gateway:Endpoints:devices:Port=0",
        "Gateway:Endpoints:devices:Framing:Kind=Line",
        "Gateway:Endpoints:devices:Publish=devices/{connectionId}/up",
        "Gateway:Endpoints:devices:Subscribe:0=devices/{connectionId}/down",
        "Gateway:Routes:svc:From:0=devices/+/up",
        $"Gateway:Routes:svc:To:Url={url}",
        "Gateway:Routes:svc:Retry:BaseDelay=00:00:00.020",
        "Gateway:Routes:svc:AttemptTimeout=00:00:02",
        .. more,
    ];

    [Fact]
    public async Task A_device_request_comes_back_as_the_service_answer_through_the_reply_topic()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url, "Gateway:Routes:svc:ReplyTopic=devices/{connectionId}/down"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);

        await device.SendLineAsync("temperature 21.5");

        Assert.Equal("re:temperature 21.5", await device.ReadLineAsync());
        var request = Assert.Single(upstream.Received);
        Assert.Equal("temperature 21.5", request.Body);
        Assert.StartsWith("devices/", request.Topic, StringComparison.Ordinal);
        Assert.EndsWith("/up", request.Topic, StringComparison.Ordinal);
        Assert.True(long.TryParse(request.MessageId, out _), $"message id '{request.MessageId}'");
        Assert.Equal("application/octet-stream", request.ContentType);
        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("succeeded").GetInt64());
    }

    [Fact]
    public async Task With_tracing_on_each_request_carries_the_trace_context()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        // Spans are made once an OTLP endpoint is set; nothing listens there, which only loses the export.
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url, $"Gateway:Telemetry:OtlpEndpoint=http://127.0.0.1:{FreePort.Next()}"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        await device.SendLineAsync("traced");
        await http.PostAsync("/api/topics/devices/d1/up", new StringContent("published over http"));

        await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 2);
        Assert.All(upstream.Received, request => Assert.Matches("^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$", request.TraceParent));
    }

    [Fact]
    public async Task Server_errors_are_retried_until_the_service_answers()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        upstream.Then(ScriptedUpstream.Status(500), ScriptedUpstream.Status(503), ScriptedUpstream.Reset);
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        await device.SendLineAsync("reading");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("succeeded").GetInt64());
        Assert.Equal(4, upstream.Received.Count);
        // Each attempt is a request of its own, built again from the same message.
        var first = upstream.Received.First();
        Assert.False(string.IsNullOrEmpty(first.MessageId));
        Assert.All(upstream.Received, request =>
        {
            Assert.Equal("reading", request.Body);
            Assert.Equal((first.Topic, first.MessageId, first.ContentType), (request.Topic, request.MessageId, request.ContentType));
        });
    }

    [Fact]
    public async Task A_404_counts_as_failed_is_not_retried_and_goes_to_the_dead_letter_topic()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        upstream.Otherwise = ScriptedUpstream.Status(404);
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url, "Gateway:Routes:svc:DeadLetter=dead/{connectionId}"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await using var deadLetters = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/dead/%23/events");

        await device.SendLineAsync("order 17");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("failed").GetInt64());
        Assert.Equal(0, state.GetProperty("succeeded").GetInt64());
        Assert.Equal(1, state.GetProperty("deadLettered").GetInt64());
        Assert.Equal("HTTP 404 Not Found", state.GetProperty("lastError").GetString());
        Assert.Single(upstream.Received);
        var dead = await deadLetters.ReadEventAsync();
        Assert.Equal("order 17", dead.Data.GetProperty("text").GetString());
    }

    [Fact]
    public async Task An_answer_over_MaxReplyBytes_fails_the_message_once_without_a_retry_and_names_the_setting()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        upstream.Otherwise = ScriptedUpstream.Answer; // "re:" and the body: 19 bytes for this one
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url,
            "Gateway:Routes:svc:To:MaxReplyBytes=16", "Gateway:Routes:svc:ReplyTopic=devices/{connectionId}/down"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);

        await device.SendLineAsync("a long reading..");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("failed").GetInt64());
        // The service took the message: sending it again would deliver it twice.
        Assert.Single(upstream.Received);
        Assert.Contains("MaxReplyBytes", state.GetProperty("lastError").GetString(), StringComparison.Ordinal);

        // A short answer still comes back.
        await device.SendLineAsync("short");
        Assert.Equal("re:short", await device.ReadLineAsync());
    }

    [Fact]
    public async Task A_429_is_retried_after_its_Retry_After()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        upstream.Then(ScriptedUpstream.Status(429, retryAfterSeconds: 1));
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        await device.SendLineAsync("burst");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("succeeded").GetInt64());
        var attempts = upstream.Received.ToArray();
        Assert.Equal(2, attempts.Length);
        // The backoff alone would wait about 20 ms; the answer asked for a second.
        Assert.True(attempts[1].At - attempts[0].At >= TimeSpan.FromMilliseconds(900), $"retried after {(attempts[1].At - attempts[0].At).TotalMilliseconds} ms");
    }

    [Fact]
    public async Task A_service_slower_than_the_attempt_timeout_fails_after_its_retries()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        upstream.Otherwise = ScriptedUpstream.Slow(TimeSpan.FromSeconds(5));
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url,
            "Gateway:Routes:svc:AttemptTimeout=00:00:00.200", "Gateway:Routes:svc:Retry:MaxRetries=2", "Gateway:Routes:svc:DeadLetter=dead/slow"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        await device.SendLineAsync("patience");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("failed").GetInt64());
        Assert.Equal(1, state.GetProperty("deadLettered").GetInt64());
        Assert.Contains("timed out", state.GetProperty("lastError").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, upstream.Received.Count);
    }

    [Fact]
    public async Task A_dead_service_opens_the_circuit_messages_wait_and_flow_when_it_returns()
    {
        // A port with nothing listening: the service is down. It comes back on that port later.
        var port = FreePort.Next();
        var url = new Uri($"http://127.0.0.1:{port}/ingest");
        await using var gateway = await TestGateway.StartAsync(Settings(url,
            "Gateway:Routes:svc:Retry:MaxRetries=0", "Gateway:Routes:svc:Required=true", "Gateway:Routes:svc:MaxInFlight=1",
            "Gateway:Routes:svc:CircuitBreaker:MinimumThroughput=2", "Gateway:Routes:svc:CircuitBreaker:BreakDuration=00:00:01",
            "Gateway:Routes:svc:Ordering=None"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        for (var i = 0; i < 10; i++)
            await device.SendLineAsync($"m{i}");
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "CircuitOpened");
        var open = await RouteAccounting.AssertIdentityAsync(gateway.HttpAddress, "svc");
        Assert.Equal("open", open.GetProperty("circuit").GetString());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/readyz")).StatusCode);

        await using var upstream = await ScriptedUpstream.StartAsync(port: port);
        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 10, TimeSpan.FromSeconds(20));

        // The two attempts that opened the circuit failed (and a trial, if one came before the service was back); every
        // message after waited in the queue and went through, in order.
        var failed = (int)state.GetProperty("failed").GetInt64();
        Assert.InRange(failed, 2, 4);
        Assert.Equal(10 - failed, state.GetProperty("succeeded").GetInt64());
        Assert.Equal(Enumerable.Range(failed, 10 - failed).Select(i => $"m{i}"), upstream.Received.Select(request => request.Body));
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "CircuitClosed");
        Assert.Equal(1, gateway.Logs.Lines.Count(line => line.EventId.Name == "CircuitOpened"));
        Assert.Equal("closed", (await RouteAccounting.GetAsync(gateway.HttpAddress, "svc")).GetProperty("circuit").GetString());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task A_full_queue_drops_by_its_policy_and_dead_letters_what_it_drops()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        var release = new TaskCompletionSource();
        upstream.Otherwise = async context =>
        {
            await release.Task;
            await ScriptedUpstream.Answer(context);
        };
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url,
            "Gateway:Routes:svc:MaxInFlight=1", "Gateway:Routes:svc:Queue:Capacity=5", "Gateway:Routes:svc:Queue:Overflow=DropNewest",
            "Gateway:Routes:svc:DeadLetter=dead/full", "Gateway:Routes:svc:AttemptTimeout=00:00:30"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await using var deadLetters = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/dead/full/events");

        await device.SendLineAsync("m0");
        await Eventually.TrueAsync(async () => (await RouteAccounting.AssertIdentityAsync(gateway.HttpAddress, "svc")).GetProperty("inFlight").GetInt64() == 1, "m0 in flight");
        for (var i = 1; i < 20; i++)
            await device.SendLineAsync($"m{i}");
        await Eventually.TrueAsync(async () => (await RouteAccounting.AssertIdentityAsync(gateway.HttpAddress, "svc")).GetProperty("matched").GetInt64() == 20, "20 matched");

        var full = await RouteAccounting.AssertIdentityAsync(gateway.HttpAddress, "svc");
        Assert.Equal(1, full.GetProperty("inFlight").GetInt32());
        Assert.Equal(5, full.GetProperty("queued").GetInt32());
        Assert.Equal(14, full.GetProperty("dropped").GetProperty("queue_full").GetInt64());
        Assert.Equal("m6", (await deadLetters.ReadEventAsync()).Data.GetProperty("text").GetString());

        release.SetResult();
        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 20);
        Assert.Equal(6, state.GetProperty("succeeded").GetInt64());
        Assert.Equal(14, state.GetProperty("deadLettered").GetInt64());
        Assert.Equal(["m0", "m1", "m2", "m3", "m4", "m5"], upstream.Received.Select(request => request.Body));
    }

    [Fact]
    public async Task Messages_of_one_topic_reach_the_service_in_order()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        // Answers take a varying time: with several in flight, a later message would often overtake an earlier one.
        upstream.Otherwise = async context =>
        {
            await Task.Delay(Random.Shared.Next(0, 8));
            await ScriptedUpstream.Answer(context);
        };
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url, "Gateway:Routes:svc:MaxInFlight=8"));
        await using var first = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await using var second = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        for (var i = 0; i < 40; i++)
        {
            await first.SendLineAsync($"a{i}");
            await second.SendLineAsync($"b{i}");
        }

        await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 80);
        var received = upstream.Received.Select(request => request.Body).ToArray();
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"a{i}"), received.Where(body => body[0] == 'a'));
        Assert.Equal(Enumerable.Range(0, 40).Select(i => $"b{i}"), received.Where(body => body[0] == 'b'));
    }

    [Fact]
    public async Task A_slow_service_never_slows_the_publisher_or_another_route()
    {
        await using var slow = await ScriptedUpstream.StartAsync();
        slow.Otherwise = ScriptedUpstream.Slow(TimeSpan.FromSeconds(20));
        await using var fast = await ScriptedUpstream.StartAsync();
        await using var gateway = await TestGateway.StartAsync(Settings(slow.Url,
            "Gateway:Routes:svc:AttemptTimeout=00:00:30", "Gateway:Routes:svc:MaxInFlight=2",
            "Gateway:Routes:audit:From:0=devices/+/up", $"Gateway:Routes:audit:To:Url={fast.Url}", "Gateway:Routes:audit:Ordering=None",
            "Gateway:Endpoints:devices:Subscribe:1=devices/+/up"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        await gateway.WaitForConnectionsAsync(1);

        for (var i = 0; i < 200; i++)
            await device.SendLineAsync($"m{i}");

        // The device's own subscription and the fast route get everything while the slow route holds two in flight.
        for (var i = 0; i < 200; i++)
            Assert.Equal($"m{i}", await device.ReadLineAsync());
        var audit = await RouteAccounting.SettledAsync(gateway.HttpAddress, "audit", matched: 200);
        Assert.Equal(200, audit.GetProperty("succeeded").GetInt64());
        // One topic, ordered per topic: one message waits on the slow service, the others in the queue.
        var held = await RouteAccounting.AssertIdentityAsync(gateway.HttpAddress, "svc");
        Assert.Equal(1, held.GetProperty("inFlight").GetInt32());
        Assert.Equal(199, held.GetProperty("queued").GetInt32());
    }

    [Fact]
    public async Task Messages_past_their_ttl_are_dropped_as_expired()
    {
        var url = new Uri($"http://127.0.0.1:{FreePort.Next()}/ingest");
        await using var gateway = await TestGateway.StartAsync(Settings(url,
            "Gateway:Routes:svc:Ttl=00:00:01", "Gateway:Routes:svc:Retry:MaxRetries=50", "Gateway:Routes:svc:Retry:MaxDelay=00:00:00.100",
            "Gateway:Routes:svc:CircuitBreaker:MinimumThroughput=1000", "Gateway:Routes:svc:DeadLetter=dead/late"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        await device.SendLineAsync("too late");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("dropped").GetProperty("expired").GetInt64());
        await Eventually.TrueAsync(async () => (await RouteAccounting.GetAsync(gateway.HttpAddress, "svc")).GetProperty("deadLettered").GetInt64() == 1, "dead-lettered");
    }

    [Fact]
    public async Task An_http2_service_is_reached_over_http2()
    {
        await using var upstream = await ScriptedUpstream.StartAsync(HttpProtocols.Http2);
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url, "Gateway:Routes:svc:To:HttpVersion=2"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        await device.SendLineAsync("over h2");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("succeeded").GetInt64());
        Assert.Equal("HTTP/2", Assert.Single(upstream.Received).Protocol);
    }

    [Fact]
    public async Task A_service_behind_tls_that_requires_a_client_certificate_gets_the_gateways()
    {
        var https = new HttpsConnectionAdapterOptions
        {
            ServerCertificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificates.ServerCertificate, certificates.ServerKey),
            ClientCertificateMode = ClientCertificateMode.RequireCertificate,
            ClientCertificateValidation = (certificate, _, _) =>
            {
                using var chain = new System.Security.Cryptography.X509Certificates.X509Chain { ChainPolicy = TestCertificates.TrustOnly(certificates.CaCertificate) };
                return chain.Build(certificate);
            },
        };
        await using var upstream = await ScriptedUpstream.StartAsync(https: https);
        var (clientCertificate, clientKey) = certificates.Client("device1");
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url,
            $"Gateway:Routes:svc:To:Tls:CertificateAuthority={certificates.CaCertificate}",
            $"Gateway:Routes:svc:To:Tls:ClientCertificate:Path={clientCertificate}",
            $"Gateway:Routes:svc:To:Tls:ClientCertificate:KeyPath={clientKey}"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        await device.SendLineAsync("secret");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("succeeded").GetInt64());
        Assert.Equal("device1", Assert.Single(upstream.Received).ClientCertificateName);
    }

    [Fact]
    public async Task A_service_whose_certificate_the_private_ca_did_not_sign_is_refused()
    {
        // The service presents a certificate for localhost that it signed itself; the route trusts only the test CA.
        using var key = System.Security.Cryptography.RSA.Create(2048);
        var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=localhost", key,
            System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        var names = new System.Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        request.CertificateExtensions.Add(names.Build());
        using var selfSigned = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var https = new HttpsConnectionAdapterOptions
        {
            ServerCertificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(selfSigned.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null),
        };
        await using var upstream = await ScriptedUpstream.StartAsync(https: https);
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url,
            $"Gateway:Routes:svc:To:Tls:CertificateAuthority={certificates.CaCertificate}", "Gateway:Routes:svc:Retry:MaxRetries=0"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));

        await device.SendLineAsync("secret");

        var state = await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 1);
        Assert.Equal(1, state.GetProperty("failed").GetInt64());
        Assert.Empty(upstream.Received);
    }

    [Fact]
    public async Task At_every_scrape_the_metrics_add_up()
    {
        await using var upstream = await ScriptedUpstream.StartAsync();
        upstream.Then(ScriptedUpstream.Status(404), ScriptedUpstream.Status(500), ScriptedUpstream.Status(404));
        await using var gateway = await TestGateway.StartAsync(Settings(upstream.Url, "Gateway:Routes:svc:Ordering=None"));
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("devices"));
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };

        for (var i = 0; i < 50; i++)
        {
            await device.SendLineAsync($"m{i}");
            if (i % 10 == 0) RouteAccounting.AssertMetricsAddUp(await http.GetStringAsync("/metrics"), "svc");
        }

        await RouteAccounting.SettledAsync(gateway.HttpAddress, "svc", matched: 50);
        var text = await http.GetStringAsync("/metrics");
        RouteAccounting.AssertMetricsAddUp(text, "svc", minimumMatched: 50);
        Assert.Contains("gateway_route_messages_total{otel_scope_name=\"Gateway\",gateway_route=\"svc\",gateway_route_outcome=\"failed\"} 2", text, StringComparison.Ordinal);
    }
}
