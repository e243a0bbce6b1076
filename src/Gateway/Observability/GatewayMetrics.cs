using System.Diagnostics;
using System.Diagnostics.Metrics;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Security;

namespace Gateway.Observability;

/// <summary>
/// The <c>Gateway</c> meter. Every instrument but one is observable: it reads, when metrics are collected, the counters
/// the endpoints keep anyway for their log lines and the admin API, so traffic pays nothing for metrics. The
/// exception is the delivery-latency histogram, recorded by each outbox as its writer takes messages.
/// </summary>
/// <remarks>
/// Names and units follow the OpenTelemetry conventions (dotted names, UCUM units, annotations in braces); every
/// measurement carries <c>gateway.endpoint</c> and <c>gateway.protocol</c>.
/// </remarks>
internal sealed class GatewayMetrics
{
    public const string MeterName = "Gateway";
    private const string EndpointTag = "gateway.endpoint";
    private const string ProtocolTag = "gateway.protocol";
    private const string DirectionTag = "network.io.direction";
    private const string ReasonTag = "gateway.drop.reason";
    private const string RejectionReasonTag = "gateway.rejection.reason";

    /// <summary>Upper bounds of the delivery-latency buckets, in seconds: 100 µs to 10 s.</summary>
    /// <summary>Bucket boundaries, in seconds, of the gateway's latency histograms: 100 µs to 10 s.</summary>
    internal static readonly double[] LatencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly ConnectionRegistry _registry;
    private readonly MessageCounters _messages;
    private readonly IReadOnlyList<IEndpointDescription> _endpoints;
    private readonly PermissionPolicy _permissions;
    private readonly Rejections _rejections;

    // Every endpoint, by name, with its protocol: fixed at start, so each measurement's tags are made once.
    private readonly Dictionary<string, string> _protocols = new(StringComparer.Ordinal);

    public GatewayMetrics(IMeterFactory meters, IOptions<GatewayOptions> options, ConnectionRegistry registry, IMessageBus bus, EndpointDirectory directory,
        PermissionPolicy permissions, Rejections rejections)
    {
        _registry = registry;
        _messages = bus.Counters;
        _endpoints = directory.Endpoints;
        _permissions = permissions;
        _rejections = rejections;
        foreach (var endpoint in _endpoints)
            _protocols[endpoint.Name] = endpoint.Protocol;

        var meter = meters.Create(MeterName);
        meter.CreateObservableUpDownCounter("gateway.connections", ObserveConnections, "{connection}",
            "Open connections; for UDP, the peers currently tracked.");
        meter.CreateObservableCounter("gateway.io", ObserveBytes, "By",
            "Bytes received and sent: frame payloads and framing for TCP, message payloads for WebSocket, server-sent events and HTTP publishes, datagrams for UDP.");
        // One counter per unit the endpoints count their traffic in (TCP frames, WebSocket messages, server-sent events and
        // HTTP publish bodies are frames; UDP's are datagrams), and of those dropped where an endpoint drops its own.
        foreach (var unit in _endpoints.Select(endpoint => endpoint.TrafficUnit).Distinct())
        {
            meter.CreateObservableCounter($"gateway.{unit}s", () => ObserveUnits(unit), $"{{{unit}}}", $"{Capitalized(unit)}s received and sent.");
            if (_endpoints.Any(endpoint => endpoint.TrafficUnit == unit && endpoint.Drops.Any()))
            {
                meter.CreateObservableCounter($"gateway.{unit}s.dropped", () => ObserveDroppedUnits(unit), $"{{{unit}}}",
                    $"{Capitalized(unit)}s an endpoint dropped on the way in or out, by reason: "
                    + string.Join(", ", _endpoints.Where(endpoint => endpoint.TrafficUnit == unit).SelectMany(endpoint => endpoint.Drops).Select(drop => drop.Reason).Distinct())
                    + ".");
            }
        }

        meter.CreateObservableCounter("gateway.messages.published", ObserveMessages(counters => counters.Published), "{message}", "Messages published, by the endpoint they entered by.");
        meter.CreateObservableCounter("gateway.messages.unrouted", ObserveMessages(counters => counters.Unrouted), "{message}",
            "Published messages that matched no subscriber, by the endpoint they entered by.");
        meter.CreateObservableCounter("gateway.messages.delivered", ObserveMessages(counters => counters.Delivered), "{message}",
            "Messages accepted into a subscriber's outbox, by the subscriber's endpoint.");
        meter.CreateObservableCounter("gateway.messages.dropped", ObserveDropped, "{message}",
            "Messages dropped for a subscriber, by its endpoint and the reason: drop_oldest, drop_newest, overflow_disconnect, subscriber_closed, unframeable.");
        meter.CreateObservableCounter("gateway.framing.errors", ObserveFramingErrors, "{connection}",
            "Connections closed because their input broke the endpoint's framing.");
        meter.CreateObservableCounter("gateway.tls.handshake.failures", ObserveTlsFailures, "{handshake}",
            "TLS handshakes that failed: plaintext, an untrusted or missing client certificate, or too slow.");
        meter.CreateObservableCounter("gateway.permission.denials", ObserveDenials, "{message}",
            "Messages refused because their sender may not publish to their topic.");
        meter.CreateObservableCounter("gateway.rejections", ObserveRejections, "{event}",
            "Connections, messages and frames a limit refused, by endpoint and reason (gateway.rejection.reason).");

        if (!options.Value.Telemetry.MeasureDeliveryLatency) return;
        foreach (var (name, protocol) in _protocols)
        {
            // Recorded per delivery, so each endpoint has a meter that carries its tags: a measurement without tags
            // takes the SDK's shortest path (a tag lookup per delivery cost about 4 % of the TCP echo's server CPU).
            var endpointMeter = meters.Create(new MeterOptions(MeterName) { Tags = Tags(name, protocol) });
            var latency = endpointMeter.CreateHistogram("gateway.message.delivery.duration", "s",
                "Time from a message entering the gateway to a subscriber's writer taking it for the socket, by the subscriber's endpoint.",
                advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
            _messages.ForEndpoint(name).MeasureDeliveryLatency(latency);
        }
    }

    private static string Capitalized(string word) => char.ToUpperInvariant(word[0]) + word[1..];

    private static TagList Tags(string endpoint, string protocol) => new() { { EndpointTag, endpoint }, { ProtocolTag, protocol } };

    private TagList Tags(string endpoint) => Tags(endpoint, _protocols.GetValueOrDefault(endpoint, "unknown"));

    private static TagList With(TagList tags, string key, string value)
    {
        tags.Add(key, value);
        return tags;
    }

    private IEnumerable<Measurement<long>> ObserveConnections()
    {
        var activity = _registry.Snapshot();
        foreach (var endpoint in _endpoints)
            yield return new(activity.GetValueOrDefault(endpoint.Name).OpenConnections, Tags(endpoint.Name));
    }

    /// <summary>
    /// Each endpoint's traffic: what it counts itself, or else what its connections (and requests) carried, which the
    /// registry sums; both only grow, as a counter must.
    /// </summary>
    private IEnumerable<(IEndpointDescription Endpoint, EndpointTraffic Traffic)> Traffic()
    {
        var activity = _registry.Snapshot();
        foreach (var endpoint in _endpoints)
        {
            if (endpoint.Traffic is { } own)
            {
                yield return (endpoint, own);
                continue;
            }

            var connections = activity.GetValueOrDefault(endpoint.Name);
            yield return (endpoint, new EndpointTraffic(connections.BytesIn, connections.BytesOut, connections.FramesIn, connections.FramesOut));
        }
    }

    private IEnumerable<Measurement<long>> ObserveBytes() =>
        Traffic().SelectMany(pair => BothDirections(pair.Endpoint.Name, pair.Traffic.BytesIn, pair.Traffic.BytesOut));

    private IEnumerable<Measurement<long>> ObserveUnits(string unit) =>
        Traffic().Where(pair => pair.Endpoint.TrafficUnit == unit)
            .SelectMany(pair => BothDirections(pair.Endpoint.Name, pair.Traffic.UnitsIn, pair.Traffic.UnitsOut));

    private IEnumerable<Measurement<long>> BothDirections(string endpoint, long received, long transmitted)
    {
        yield return new(received, With(Tags(endpoint), DirectionTag, "receive"));
        yield return new(transmitted, With(Tags(endpoint), DirectionTag, "transmit"));
    }

    private IEnumerable<Measurement<long>> ObserveDroppedUnits(string unit)
    {
        foreach (var endpoint in _endpoints)
        {
            if (endpoint.TrafficUnit != unit) continue;
            foreach (var (reason, count) in endpoint.Drops)
                yield return new(count, With(Tags(endpoint.Name), ReasonTag, reason));
        }
    }

    /// <summary>One of the message counts, for every endpoint that has message counters.</summary>
    private Func<IEnumerable<Measurement<long>>> ObserveMessages(Func<MessageCounters, long> count) => () =>
        _messages.Endpoints.Select(counters => new Measurement<long>(count(counters), Tags(counters.Endpoint!)));

    private IEnumerable<Measurement<long>> ObserveDropped()
    {
        foreach (var counters in _messages.Endpoints)
        {
            var tags = Tags(counters.Endpoint!);
            yield return new(counters.DroppedOldest, With(tags, ReasonTag, "drop_oldest"));
            yield return new(counters.DroppedNewest, With(tags, ReasonTag, "drop_newest"));
            yield return new(counters.DroppedOverflowDisconnect, With(tags, ReasonTag, "overflow_disconnect"));
            yield return new(counters.DroppedClosed, With(tags, ReasonTag, "subscriber_closed"));
            yield return new(counters.DroppedUnframeable, With(tags, ReasonTag, "unframeable"));
        }
    }

    private IEnumerable<Measurement<long>> ObserveFramingErrors()
    {
        foreach (var endpoint in _endpoints)
        {
            if (endpoint.FramingErrors is { } errors) yield return new(errors, Tags(endpoint.Name));
        }
    }

    private IEnumerable<Measurement<long>> ObserveTlsFailures()
    {
        foreach (var endpoint in _endpoints)
        {
            if (endpoint.FailedTlsHandshakes is { } failed) yield return new(failed, Tags(endpoint.Name));
        }
    }

    private IEnumerable<Measurement<long>> ObserveDenials()
    {
        foreach (var endpoint in _endpoints)
            yield return new(_permissions.DeniedPublishes(endpoint.Name), Tags(endpoint.Name));
    }

    private IEnumerable<Measurement<long>> ObserveRejections() =>
        _rejections.All.Select(counter => new Measurement<long>(counter.Value, With(Tags(counter.Endpoint), RejectionReasonTag, counter.Reason)));
}
