using System.Diagnostics;
using Gateway.Messaging;

namespace Gateway.Observability;

/// <summary>
/// The gateway's spans: an HTTP publish, and one span per delivery of it that continues the publish's trace. Names
/// and attributes follow the OpenTelemetry messaging conventions; topics are attributes, not span names, because a
/// topic such as "devices/42/up" has too many values to name a span by.
/// </summary>
internal static class MessageTracing
{
    public const string SourceName = "Gateway";

    private static readonly ActivitySource s_source = new(SourceName);

    /// <summary>Starts the span of a publish; null when no tracer listens.</summary>
    public static Activity? StartPublish(string topic, string endpoint)
    {
        var activity = s_source.StartActivity("publish", ActivityKind.Producer);
        activity?.SetTag("messaging.system", "gateway")
            .SetTag("messaging.operation.type", "send")
            .SetTag("messaging.destination.name", topic)
            .SetTag("gateway.endpoint", endpoint);
        return activity;
    }

    /// <summary>Ties the published message to its span, so each delivery continues the trace.</summary>
    public static void Published(Activity activity, Message message)
    {
        activity.SetTag("messaging.message.id", message.Id);
        message.PublishActivity = activity;
    }

    /// <summary>
    /// Starts the span of a message that another instance published and the backplane brought here, as a child of that
    /// publish, and ties the message to it so each delivery here continues the same trace; null when no tracer listens.
    /// </summary>
    public static Activity? StartReceived(Message message, ActivityContext publish)
    {
        var activity = s_source.StartActivity("receive", ActivityKind.Consumer, publish);
        if (activity is null) return null;
        activity.SetTag("messaging.system", "gateway")
            .SetTag("messaging.operation.type", "receive")
            .SetTag("messaging.destination.name", message.Topic)
            .SetTag("gateway.endpoint", message.SourceEndpoint);
        message.PublishActivity = activity;
        return activity;
    }

    /// <summary>
    /// Starts the span of a route's request to its upstream, a child of the message's publish when that was traced (a
    /// trace of its own otherwise), so the upstream's <c>traceparent</c> continues it; null when no tracer listens.
    /// </summary>
    public static Activity? StartForward(Message message, string route, string destination)
    {
        var activity = s_source.StartActivity("forward", ActivityKind.Client, message.PublishActivity?.Context ?? default);
        activity?.SetTag("messaging.system", "gateway")
            .SetTag("messaging.operation.type", "send")
            .SetTag("messaging.destination.name", message.Topic)
            .SetTag("messaging.message.id", message.Id)
            .SetTag("gateway.route", route)
            .SetTag("server.address", destination);
        return activity;
    }

    /// <summary>
    /// Records one delivery as a span from the publish to the moment the subscriber's writer took the message: the
    /// time the message waited for that subscriber.
    /// </summary>
    public static void Delivered(Activity published, Message message, string? endpoint)
    {
        using var activity = s_source.StartActivity("deliver", ActivityKind.Consumer, published.Context, startTime: message.Timestamp);
        activity?.SetTag("messaging.system", "gateway")
            .SetTag("messaging.operation.type", "process")
            .SetTag("messaging.destination.name", message.Topic)
            .SetTag("messaging.message.id", message.Id)
            .SetTag("gateway.endpoint", endpoint);
    }
}
