using System.Diagnostics;
using System.Diagnostics.Metrics;
using NATS.Client.Core;

namespace Gateway.Backplane;

/// <summary>
/// Proves that messages flow through NATS, not only that the client believes it is connected: every
/// <see cref="BackplaneOptions.ProbeInterval"/> the link publishes a probe to a second connection of this instance,
/// which answers to a subscription of the link's connection. The probe goes out the way the link publishes and comes
/// back the way the link's subscriptions receive (after a reconnect, through the subscriptions the client restored), so
/// it fails when either way fails, whatever the client's state. No-echo cannot hide it: two connections take part.
/// </summary>
internal sealed partial class RoundTripProbe(NatsLink link, NatsOpts probeOptions, BackplaneOptions options, TimeProvider time, ILogger<RoundTripProbe> logger)
    : IAsyncDisposable
{
    private readonly NatsConnection _answering = new(probeOptions);
    private long _lastAnsweredTicks; // UTC ticks of the last answer; 0 before the first
    private long _lastRoundTripTicks;
    private bool _flowing;

    /// <summary>The round-trip times, for the metrics; set before the probe runs.</summary>
    public Histogram<double>? RoundTrips { get; set; }

    /// <summary>When the last probe came back; null before the first.</summary>
    public DateTimeOffset? LastAnsweredAt => Volatile.Read(ref _lastAnsweredTicks) is var ticks and > 0 ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;

    /// <summary>How long the last answered probe took there and back.</summary>
    public TimeSpan? LastRoundTrip => Volatile.Read(ref _lastRoundTripTicks) is var ticks and > 0 ? TimeSpan.FromTicks(ticks) : null;

    /// <summary>True while probes come back within <see cref="BackplaneOptions.ProbeTimeout"/> of the interval.</summary>
    public bool IsFlowing => LastAnsweredAt is { } answered && time.GetUtcNow() - answered <= options.ProbeInterval + options.ProbeTimeout;

    public async Task RunAsync(CancellationToken stopping)
    {
        try
        {
            var asking = link.Connection;
            // Under "_INBOX.", where no topic maps (the subject prefix may not start there), and outside each client's own
            // inbox prefix, whose replies the client expects only to its requests (it warns about any other).
            var question = $"_INBOX.gw_probe.{link.InstanceId}.question";
            var answer = $"_INBOX.gw_probe.{link.InstanceId}.answer";
            await using var questions = await _answering.SubscribeCoreAsync(question, serializer: NatsRawSerializer<byte[]>.Default, cancellationToken: stopping);
            await using var answers = await asking.SubscribeCoreAsync(answer, serializer: NatsRawSerializer<byte[]>.Default, cancellationToken: stopping);
            var answering = AnswerAsync(questions, stopping);
            var hearing = HearAsync(answers, stopping);
            await AskAsync(asking, question, answer, stopping);
            await Task.WhenAll(answering, hearing);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
    }

    /// <summary>Sends a probe each interval carrying its send time, and logs once when answers stop and once when they resume.</summary>
    private async Task AskAsync(NatsConnection asking, string question, string answer, CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(options.ProbeInterval, time);
        do
        {
            var flowing = IsFlowing;
            if (flowing != _flowing)
            {
                _flowing = flowing;
                if (flowing) LogFlowing(logger, LastRoundTrip?.TotalMilliseconds ?? 0);
                else LogStopped(logger, options.ProbeInterval + options.ProbeTimeout, asking.ConnectionState);
            }

            if (asking.ConnectionState != NatsConnectionState.Open) continue;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(options.ProbeTimeout);
            try
            {
                await asking.PublishAsync(question, BitConverter.GetBytes(Stopwatch.GetTimestamp()), replyTo: answer, serializer: NatsRawSerializer<byte[]>.Default, cancellationToken: timeout.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or NatsException && !stopping.IsCancellationRequested)
            {
                // Unanswered probes are what the check measures; nothing to do here.
            }
        }
        while (await timer.WaitForNextTickAsync(stopping));
    }

    private async Task AnswerAsync(INatsSub<byte[]> questions, CancellationToken stopping)
    {
        await foreach (var probe in questions.Msgs.ReadAllAsync(stopping))
        {
            if (probe.ReplyTo is null) continue;
            try
            {
                await _answering.PublishAsync(probe.ReplyTo, probe.Data, serializer: NatsRawSerializer<byte[]>.Default, cancellationToken: stopping);
            }
            catch (NatsException)
            {
                // The answering connection is down: the asker sees no answer, which is the point.
            }
        }
    }

    private async Task HearAsync(INatsSub<byte[]> answers, CancellationToken stopping)
    {
        await foreach (var answer in answers.Msgs.ReadAllAsync(stopping))
        {
            if (answer.Data is not { Length: sizeof(long) } sent) continue;
            var roundTrip = Stopwatch.GetElapsedTime(BitConverter.ToInt64(sent));
            Volatile.Write(ref _lastRoundTripTicks, Math.Max(1, roundTrip.Ticks));
            Volatile.Write(ref _lastAnsweredTicks, time.GetUtcNow().UtcTicks);
            RoundTrips?.Record(roundTrip.TotalSeconds);
        }
    }

    public ValueTask DisposeAsync() => _answering.DisposeAsync();

    [LoggerMessage(EventId = LogEventIds.Backplane + 10, EventName = "BackplaneNotFlowing", Level = LogLevel.Warning,
        Message = "Backplane messages are not flowing: no probe came back through NATS within {Window} (the client reports {ClientState}).")]
    private static partial void LogStopped(ILogger logger, TimeSpan window, NatsConnectionState clientState);

    [LoggerMessage(EventId = LogEventIds.Backplane + 11, EventName = "BackplaneFlowing", Level = LogLevel.Information,
        Message = "Backplane messages flow through NATS: a probe came back in {RoundTripMs:0.0} ms.")]
    private static partial void LogFlowing(ILogger logger, double roundTripMs);
}
