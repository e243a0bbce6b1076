using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;

namespace Gateway.Tests.Observability;

/// <summary>
/// With <c>Gateway:Telemetry:OtlpEndpoint</c> set, an HTTP publish makes a trace that runs from the request through
/// the publish to each delivery, and metrics and spans are pushed over OTLP to a real HTTP receiver.
/// </summary>
public sealed class TracingTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task An_http_publish_is_traced_to_its_deliveries_and_exported_over_otlp()
    {
        await using var collector = await OtlpReceiver.StartAsync();
        await using var gateway = await TestGateway.StartAsync(
            $"Gateway:Telemetry:OtlpEndpoint={collector.Address}",
            "Gateway:Telemetry:OtlpProtocol=HttpProtobuf",
            "Gateway:Telemetry:OtlpExportInterval=00:00:01");

        // The test's own listener sees the spans in this process; a trace id of our choosing keeps other tests' out.
        var traceId = ActivityTraceId.CreateRandom();
        var spans = new ConcurrentQueue<Activity>();
        using var listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name is "Gateway" or "Microsoft.AspNetCore",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = activity => { if (activity.TraceId == traceId) spans.Enqueue(activity); },
        };
        ActivitySource.AddActivityListener(listener);

        await using var first = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/traced/+/events");
        await using var second = await SseClient.OpenAsync(gateway.HttpAddress, "/api/topics/traced/%23/events");
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var request = new HttpRequestMessage(HttpMethod.Post, "/api/topics/traced/a") { Content = new StringContent("hello") };
        var callerSpan = ActivitySpanId.CreateRandom();
        request.Headers.Add("traceparent", $"00-{traceId}-{callerSpan}-01");
        (await http.SendAsync(request)).EnsureSuccessStatusCode();
        await first.ReadEventAsync();
        await second.ReadEventAsync();

        // The server's span stops after its response has reached us, so it may still be open when the events arrive.
        await Eventually.TrueAsync(
            () => spans.Count(span => span.OperationName == "deliver") == 2 && spans.Any(span => span.Source.Name == "Microsoft.AspNetCore"),
            "two delivery spans and the request's", s_timeout);
        var server = Assert.Single(spans, span => span.Source.Name == "Microsoft.AspNetCore");
        var publish = Assert.Single(spans, span => span.OperationName == "publish");
        Assert.Equal(callerSpan, server.ParentSpanId);
        Assert.Equal(server.SpanId, publish.ParentSpanId);
        Assert.Equal(ActivityKind.Producer, publish.Kind);
        Assert.Equal("traced/a", publish.GetTagItem("messaging.destination.name"));
        Assert.Equal(2, publish.GetTagItem("gateway.subscribers"));
        Assert.All(spans.Where(span => span.OperationName == "deliver"), deliver =>
        {
            Assert.Equal(publish.SpanId, deliver.ParentSpanId);
            Assert.Equal(ActivityKind.Consumer, deliver.Kind);
            Assert.Equal("http", deliver.GetTagItem("gateway.endpoint"));
        });

        // OTLP carries ids as raw bytes and names as strings: the trace reached the receiver, and so did the meter.
        var traceIdBytes = Convert.FromHexString(traceId.ToHexString());
        await Eventually.TrueAsync(() => collector.Received("/v1/traces", body => body.AsSpan().IndexOf(traceIdBytes) >= 0 && Contains(body, "deliver")),
            "the trace exported to /v1/traces", s_timeout);
        await Eventually.TrueAsync(() => collector.Received("/v1/metrics", body => Contains(body, "gateway.messages.published")),
            "the Gateway meter exported to /v1/metrics", s_timeout);
    }

    private static bool Contains(byte[] body, string text) => body.AsSpan().IndexOf(Encoding.UTF8.GetBytes(text)) >= 0;

    /// <summary>An OTLP/HTTP receiver on real Kestrel: it keeps every body posted to it, by path.</summary>
    private sealed class OtlpReceiver : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly ConcurrentQueue<(string Path, byte[] Body)> _bodies = new();

        private OtlpReceiver(WebApplication app) => _app = app;

        public Uri Address => new(_app.Urls.First());

        public static async Task<OtlpReceiver> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var receiver = new OtlpReceiver(app);
            app.MapPost("/v1/{signal}", async (HttpContext context) =>
            {
                using var body = new MemoryStream();
                await context.Request.Body.CopyToAsync(body);
                receiver._bodies.Enqueue((context.Request.Path, body.ToArray()));
                context.Response.ContentType = "application/x-protobuf";
            });
            await app.StartAsync();
            return receiver;
        }

        public bool Received(string path, Func<byte[], bool> predicate) => _bodies.Any(entry => entry.Path == path && predicate(entry.Body));

        public async ValueTask DisposeAsync() => await _app.DisposeAsync();
    }
}
