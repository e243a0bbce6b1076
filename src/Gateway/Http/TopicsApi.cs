using System.Buffers;
using System.IO.Pipelines;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Http.Sse;
using Gateway.Messaging;
using Gateway.Observability;
using Gateway.Protocols.Topics;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Net.Http.Headers;

namespace Gateway.Http;

/// <summary><c>POST /api/topics/{topic}</c> publishes; <c>GET /api/topics/{filter}/events</c> streams as server-sent events.</summary>
internal static class TopicsApi
{
    private const string EventsSuffix = "/events";
    private const string SseLogCategory = "Gateway.Http.Sse";

    public static void MapTopicsApi(this IEndpointRouteBuilder routes)
    {
        var topics = routes.MapGroup("/api/topics").WithTags("Topics");
        topics.MapPost("/{**topic}", PublishAsync)
            .WithName("Publish")
            .WithSummary("Publishes the request body to a topic, keeping its content type.")
            // Any content type is accepted and kept with the message.
            .Accepts<byte[]>("*/*")
            .Produces<PublishResult>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        topics.MapGet("/{**filterAndEvents}", StreamAsync)
            .WithName("Events")
            .WithSummary("Streams the messages on topics matching a filter ('+' and '#' allowed, '#' sent as %23) as server-sent events; ends in /events.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
    }

    /// <summary>What a publish returns.</summary>
    /// <param name="Id">The message id (also the server-sent event id).</param>
    /// <param name="Topic">The topic published to.</param>
    /// <param name="Subscribers">How many local subscribers matched.</param>
    public sealed record PublishResult(long Id, string Topic, int Subscribers);

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> PublishAsync(
        string topic, HttpContext context, IMessageBus bus, ConnectionRegistry registry, HttpAccess access, PublishRateLimit rateLimit,
        IOptions<GatewayOptions> options, IOptions<JsonOptions> json)
    {
        topic = LevelsOf(topic);
        if (!Topic.IsValid(topic, out var topicError))
            return TypedResults.Problem(topicError, statusCode: StatusCodes.Status400BadRequest, title: "Invalid topic");
        if (access.CheckPublish(context, topic, HttpHost.EndpointOf(context.Request)) is { } denied)
            return denied;

        // Refused from the headers alone, a client that sent "Expect: 100-continue" never sends the body.
        var limit = options.Value.Http.MaxPublishBytes;
        if (context.Request.ContentLength > limit)
            return TooLarge(context.Request.ContentLength.Value, limit);
        if (await rateLimit.AdmitMessageAsync(context, context.RequestAborted).ConfigureAwait(false) is { } tooMany)
            return tooMany;

        var body = await ReadBodyAsync(context.Request.BodyReader, limit, context.RequestAborted).ConfigureAwait(false);
        if (body is null)
            return TooLarge(null, limit);
        if (await rateLimit.AdmitBytesAsync(context, body.Length, context.RequestAborted).ConfigureAwait(false) is { } tooManyBytes)
            return tooManyBytes;

        var endpoint = HttpHost.EndpointOf(context.Request);
        using var activity = MessageTracing.StartPublish(topic, endpoint);
        var source = new MessageSource(endpoint, context.Connection.Id, $"{context.Connection.RemoteIpAddress}:{context.Connection.RemotePort}");
        var message = new Message(topic, body, source, DateTimeOffset.UtcNow, context.Request.ContentType);
        // Tied to its span before the publish: a subscriber's writer may take the message before Publish returns.
        if (activity is not null) MessageTracing.Published(activity, message);
        var subscribers = bus.Publish(message);
        activity?.SetTag("gateway.subscribers", subscribers);
        registry.AddReceived(endpoint, body.Length, frames: 1);
        return InOneWrite(new PublishResult(message.Id, topic, subscribers), json.Value.SerializerOptions);
    }

    /// <summary>
    /// The answer serialized up front and sent with its length, in one write with the headers: the framework's JSON result
    /// streams it chunked, and its terminating chunk is a second, 5-byte write that costs a system call and a segment.
    /// </summary>
    private static FileContentHttpResult InOneWrite(PublishResult result, JsonSerializerOptions json) =>
        TypedResults.Bytes(JsonSerializer.SerializeToUtf8Bytes(result, json), "application/json; charset=utf-8");

    /// <summary>
    /// The topic or filter of a URL path, with <c>%2F</c> as a level separator like <c>/</c>. Kestrel decodes every
    /// escape in a path but that one, so <c>devices%2Fd1%2Fdown</c>, which clients that encode the whole topic send,
    /// would otherwise be one level with "%2F" in its name.
    /// </summary>
    private static string LevelsOf(string path) => path.Replace("%2F", "/", StringComparison.OrdinalIgnoreCase);

    private static ProblemHttpResult TooLarge(long? length, int limit) =>
        TypedResults.Problem(
            $"The body{(length is null ? "" : $" of {length} bytes")} exceeds Gateway:Http:MaxPublishBytes ({limit} bytes).",
            statusCode: StatusCodes.Status413PayloadTooLarge, title: "Message too large");

    /// <summary>Reads the whole body, or returns null as soon as it passes <paramref name="limit"/> (a chunked body has no length up front).</summary>
    private static async Task<byte[]?> ReadBodyAsync(PipeReader reader, int limit, CancellationToken cancellation)
    {
        while (true)
        {
            var result = await reader.ReadAsync(cancellation).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length > limit)
            {
                reader.AdvanceTo(buffer.End);
                return null;
            }

            if (result.IsCompleted)
            {
                var body = buffer.ToArray();
                reader.AdvanceTo(buffer.End);
                return body;
            }

            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async Task<IResult> StreamAsync(
        string filterAndEvents, HttpContext context, TopicHistory history, ISharedHistory sharedHistory, ConnectionSessions sessions,
        HttpAccess access, [FromKeyedServices(HttpPeerAdmission.EventStreams)] HttpPeerAdmission admission, IOptions<GatewayOptions> options, ILoggerFactory loggers)
    {
        if (!filterAndEvents.EndsWith(EventsSuffix, StringComparison.Ordinal))
            return TypedResults.Problem("Stream a topic filter at /api/topics/{filter}/events.", statusCode: StatusCodes.Status404NotFound, title: "Not found");
        var filterText = LevelsOf(filterAndEvents[..^EventsSuffix.Length]);
        if (!TopicFilter.TryParse(filterText, out var filter, out var filterError))
            return TypedResults.Problem(filterError, statusCode: StatusCodes.Status400BadRequest, title: "Invalid topic filter");
        if (access.CheckSubscribe(context, filter) is { } denied)
            return denied;

        long? lastEventId = null;
        var lastEventIdText = context.Request.Headers["Last-Event-ID"].FirstOrDefault() ?? context.Request.Query["lastEventId"].FirstOrDefault();
        if (lastEventIdText is not null)
        {
            if (!long.TryParse(lastEventIdText, out var parsed) || parsed < 0)
                return TypedResults.Problem($"Last-Event-ID '{lastEventIdText}' is not a message id.", statusCode: StatusCodes.Status400BadRequest, title: "Invalid Last-Event-ID");
            lastEventId = parsed;
        }

        if (admission.TryAdmit(context, HttpHost.EndpointOf(context.Request)) is { } tooMany)
            return tooMany;
        var stream = new ServerSentEventStream(context, filter, options.Value.Http.Sse, sessions, loggers.CreateLogger(SseLogCategory),
            sharedHistory.Enabled ? sharedHistory : null);
        await stream.RunAsync(history, lastEventId, ending: () => admission.Release(context)).ConfigureAwait(false);
        return TypedResults.Empty;
    }
}
