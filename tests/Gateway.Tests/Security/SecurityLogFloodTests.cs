using System.Net;
using System.Net.Http.Json;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Observability;
using Gateway.Security;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Security;

/// <summary>
/// Many peers causing security lines at will (failed TLS handshakes, denied publishes) get a bounded number of lines
/// and a summary that counts the rest, while the counters keep every one.
/// </summary>
public abstract class SecurityLogFloodTests(TransportKind transport, TestCertificates certificates)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    // Past the throttle's interval, so the summary of the last one has been written.
    private static readonly TimeSpan s_summaryTimeout = LogThrottle.DefaultInterval + TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_storm_of_failed_TLS_handshakes_writes_a_few_lines_and_a_summary_and_counts_every_one()
    {
        const int Attempts = 500;
        await using var gateway = await TestGateway.StartAsync(transport, LineEndpoint("secure", "echo/{connectionId}",
            "Gateway:Endpoints:secure:Subscribe:0=echo/{connectionId}",
            $"Gateway:Endpoints:secure:Tls:Certificate:Path={certificates.ServerCertificate}",
            $"Gateway:Endpoints:secure:Tls:Certificate:KeyPath={certificates.ServerKey}"));
        var endPoint = gateway.EndPointOf("secure");

        // Plaintext to the TLS port, 50 connections at a time.
        for (var batch = 0; batch < Attempts / 50; batch++)
            await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => SendPlaintextAsync(endPoint)));

        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var endpoints = await http.GetFromJsonAsync<List<AdminApi.EndpointInfo>>("/api/endpoints");
        Assert.Equal(Attempts, Assert.Single(endpoints!, endpoint => endpoint.Name == "secure").FailedTlsHandshakes);
        await AssertThrottledAsync(gateway.Logs, "TlsHandshakeFailed", "failed TLS handshakes on secure", Attempts);

        await using var client = await TlsLineClient.ConnectAsync(endPoint, certificates.CaCertificate, clientCertificate: null);
        await client.SendLineAsync("still served");
        Assert.Equal("still served", await client.ReadLineAsync());
    }

    [Fact]
    public async Task Many_peers_each_denied_a_publish_write_a_few_lines_and_a_summary_and_every_denial_is_counted()
    {
        const int Peers = 200;
        await using var gateway = await TestGateway.StartAsync(transport, LineEndpoint("locked", "private/{connectionId}",
            "Gateway:Security:DefaultPermissions:Publish:0=public/#"));
        var policy = gateway.Services.GetRequiredService<PermissionPolicy>();

        var peers = new List<FramedClient>();
        try
        {
            for (var i = 0; i < Peers; i++)
            {
                var peer = await FramedClient.ConnectAsync(gateway.EndPointOf("locked"));
                peers.Add(peer);
                await peer.SendLineAsync("not mine to send");
            }

            await Eventually.TrueAsync(() => policy.DeniedPublishes("locked") == Peers, $"{Peers} denied publishes are counted", s_timeout);
        }
        finally
        {
            foreach (var peer in peers)
                await peer.DisposeAsync();
        }

        await AssertThrottledAsync(gateway.Logs, "PublishDenied", "denied publishes on locked", Peers);
    }

    /// <summary>A line-framed endpoint <paramref name="name"/> on a free port, publishing to <paramref name="publish"/>.</summary>
    private static string[] LineEndpoint(string name, string publish, params string[] extra) =>
    [
        $"Gateway:Endpoints:{name}:Port=0",
        $"Gateway:Endpoints:{name}:Framing:Kind=Line",
        $"Gateway:Endpoints:{name}:Publish={publish}",
        .. extra,
    ];

    private static async Task SendPlaintextAsync(IPEndPoint endPoint)
    {
        await using var plain = await FramedClient.ConnectAsync(endPoint);
        await plain.SendLineAsync("GET / HTTP/1.1");
        Assert.True(await plain.WaitForCloseAsync(s_timeout), "a plaintext connection to the TLS port stayed open");
    }

    /// <summary>
    /// Waits until the lines written and those their summaries say were suppressed account for every occurrence, then
    /// checks that only a few were written: at most the throttle's limit per interval.
    /// </summary>
    private static async Task AssertThrottledAsync(CapturedLogs logs, string eventName, string kind, int occurrences)
    {
        await Eventually.TrueAsync(() => Written(logs, eventName) + logs.SuppressedAbout(kind) == occurrences,
            $"the lines about {kind} and their summaries account for all {occurrences}", s_summaryTimeout);

        var written = Written(logs, eventName);
        var summaries = logs.Lines.Count(line => line.EventId.Name == "LogLinesSuppressed" && line.Message.Contains(kind, StringComparison.Ordinal));
        Assert.InRange(summaries, 1, occurrences);
        // One interval per summary, and maybe one more that has suppressed nothing yet.
        Assert.InRange(written, 1, LogThrottle.DefaultLimit * (summaries + 1));
        Assert.True(written < occurrences / 2, $"{written} {eventName} lines for {occurrences} occurrences");
    }

    private static int Written(CapturedLogs logs, string eventName) => logs.Lines.Count(line => line.EventId.Name == eventName);
}

public sealed class SecurityLogFloodTestsOnEpoll(TestCertificates certificates) : SecurityLogFloodTests(TransportKind.Epoll, certificates), IClassFixture<TestCertificates>;

public sealed class SecurityLogFloodTestsOnSockets(TestCertificates certificates) : SecurityLogFloodTests(TransportKind.Sockets, certificates), IClassFixture<TestCertificates>;
