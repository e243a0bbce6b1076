using System.Diagnostics.Metrics;
using Gateway.Observability;

namespace Gateway.Backplane;

/// <summary>The link's instruments, on the gateway's meter: state, messages sent, received and dropped by reason, reconnects, round trips.</summary>
internal static class BackplaneMetrics
{
    private static readonly (LinkDropReason Reason, string Tag)[] s_reasons =
    [
        (LinkDropReason.QueueFullOldest, "queue_full_oldest"),
        (LinkDropReason.QueueFullNewest, "queue_full_newest"),
        (LinkDropReason.NoSubject, "no_subject"),
        (LinkDropReason.TooLarge, "too_large"),
        (LinkDropReason.PublishFailed, "publish_failed"),
        (LinkDropReason.Shutdown, "shutdown"),
        (LinkDropReason.NotATopic, "not_a_topic"),
    ];

    public static void Register(IMeterFactory meters, NatsLink link)
    {
        var meter = meters.Create(GatewayMetrics.MeterName);
        meter.CreateObservableGauge("gateway.backplane.flowing", () => link.Probe.IsFlowing ? 1 : 0, "{state}",
            "1 while probes come back through NATS, 0 when messages stop flowing (whatever the client believes).");
        meter.CreateObservableGauge("gateway.backplane.connected", () => link.Connection.ConnectionState == NATS.Client.Core.NatsConnectionState.Open ? 1 : 0, "{state}",
            "1 while the NATS client reports its connection open.");
        meter.CreateObservableCounter("gateway.backplane.messages.sent", () => link.Counters.Sent, "{message}", "Messages published to NATS.");
        meter.CreateObservableCounter("gateway.backplane.messages.received", () => link.Counters.Received, "{message}", "Messages received from NATS, one per subscription they matched.");
        meter.CreateObservableCounter("gateway.backplane.messages.dropped", ObserveDropped, "{message}", "Messages that did not cross the link, by reason.");
        meter.CreateObservableUpDownCounter("gateway.backplane.queued", () => link.Queued, "{message}", "Messages waiting for NATS.");
        meter.CreateObservableUpDownCounter("gateway.backplane.subscriptions", () => link.Counters.Subscriptions, "{subscription}", "Subscriptions held on NATS for this instance's peers.");
        meter.CreateObservableCounter("gateway.backplane.reconnects", () => link.Counters.Reconnects, "{reconnect}", "Connections to NATS opened again after a loss.");
        link.Probe.RoundTrips = meter.CreateHistogram("gateway.backplane.round_trip.duration", "s", "Probe round trips through NATS and back through a subscription.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GatewayMetrics.LatencyBuckets });

        IEnumerable<Measurement<long>> ObserveDropped()
        {
            foreach (var (reason, tag) in s_reasons)
                yield return new Measurement<long>(link.Dropped(reason), new KeyValuePair<string, object?>("reason", tag));
        }
    }
}
