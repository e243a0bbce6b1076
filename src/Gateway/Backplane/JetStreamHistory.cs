using System.Runtime.CompilerServices;
using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

namespace Gateway.Backplane;

/// <summary>
/// The shared history: a JetStream stream over every subject the instances send to (<c>{prefix}.&gt;</c>), so it holds
/// whatever any instance published without a second publish. Each event stream reads it through a consumer of its own,
/// from the sequence after the client's <c>Last-Event-ID</c>, and the stream's sequence numbers are the event ids.
/// </summary>
internal sealed partial class JetStreamHistory(IOptions<GatewayOptions> options, IServiceProvider services, TimeProvider time, ILogger<JetStreamHistory> logger)
    : ISharedHistory
{
    private readonly BackplaneOptions _options = options.Value.Backplane;
    private readonly SemaphoreSlim _ensuring = new(1, 1);
    private volatile bool _ensured;

    public bool Enabled => _options.IsEnabled && _options.History.Enabled;

    private string StreamName => _options.History.StreamName(_options.SubjectPrefix);

    // Made on first use: the link exists only with a backplane.
    private NatsJSContext JetStream => field ??= new NatsJSContext(services.GetRequiredService<NatsLink>().Connection);

    /// <summary>Creates the stream, or brings its retention in line with the options; once per process, again after a failure.</summary>
    public async ValueTask EnsureStreamAsync(CancellationToken cancellationToken)
    {
        if (_ensured) return;
        await _ensuring.WaitAsync(cancellationToken);
        try
        {
            if (_ensured) return;
            var history = _options.History;
            await JetStream.CreateOrUpdateStreamAsync(new StreamConfig(StreamName, [_options.SubjectPrefix + ".>"])
            {
                MaxAge = history.MaxAge,
                MaxMsgsPerSubject = history.MaxMessagesPerTopic,
                Storage = history.Storage == HistoryStorage.Memory ? StreamConfigStorage.Memory : StreamConfigStorage.File,
                NumReplicas = history.Replicas,
                Discard = StreamConfigDiscard.Old,
            }, cancellationToken);
            _ensured = true;
            LogStreamReady(logger, StreamName, _options.SubjectPrefix + ".>", history.MaxAge, history.MaxMessagesPerTopic);
        }
        finally
        {
            _ensuring.Release();
        }
    }

    public async IAsyncEnumerable<Message> ReadAsync(TopicFilter filter, long? afterId, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await EnsureStreamAsync(cancellationToken);
        if (!NatsSubject.TryFromFilter(_options.SubjectPrefix, filter, out var subjects))
            throw new InvalidOperationException($"the filter is longer than a NATS subject may be once escaped ({NatsSubject.MaxLength} bytes)");

        // Named, though not durable: a server before 2.10 reads an unnamed consumer's filter out of the request subject wrongly.
        var consumer = await JetStream.CreateOrUpdateConsumerAsync(StreamName, new ConsumerConfig("sse_" + Guid.NewGuid().ToString("N"))
        {
            FilterSubject = OneSubjectFor(subjects),
            DeliverPolicy = afterId is null ? ConsumerConfigDeliverPolicy.New : ConsumerConfigDeliverPolicy.ByStartSequence,
            OptStartSeq = afterId is { } after ? (ulong)after + 1 : 0,
            AckPolicy = ConsumerConfigAckPolicy.None,
            // The server forgets the consumer of a stream whose gateway went away without deleting it.
            InactiveThreshold = TimeSpan.FromSeconds(30),
            MemStorage = true,
            NumReplicas = 1,
        }, cancellationToken);
        try
        {
            await foreach (var entry in consumer.ConsumeAsync(NatsRawSerializer<byte[]>.Default, cancellationToken: cancellationToken))
            {
                if (entry.Metadata is not { } metadata || !NatsSubject.TryToTopic(_options.SubjectPrefix, entry.Subject, out var topic)) continue;
                // A filter ending in "/#" below its first level reads a wider subject (see OneSubjectFor): the rest is left out here.
                if (!filter.Matches(topic)) continue;
                yield return BackplaneHeaders.Read(topic, entry.Data ?? [], entry.Headers, time.GetUtcNow(), out _, (long)metadata.Sequence.Stream);
            }
        }
        finally
        {
            try
            {
                await JetStream.DeleteConsumerAsync(StreamName, consumer.Info.Name, CancellationToken.None);
            }
            catch (Exception ex) when (ex is NatsException or OperationCanceledException)
            {
                // Left to the server's inactivity threshold.
            }
        }
    }

    /// <summary>
    /// The one subject a consumer filters on: a server before 2.10 takes one. A filter with two subjects ("a/b/#" is
    /// gw.a.b.&gt; and gw.a.b) reads its parent's wider subject (gw.a.&gt;), and the caller keeps what matches.
    /// </summary>
    private string OneSubjectFor(string[] subjects)
    {
        if (subjects.Length == 1) return subjects[0];
        var parent = subjects[1];
        var lastToken = parent.LastIndexOf('.');
        return lastToken <= _options.SubjectPrefix.Length ? _options.SubjectPrefix + ".>" : parent[..lastToken] + ".>";
    }

    [LoggerMessage(EventId = LogEventIds.Backplane + 20, EventName = "BackplaneHistoryReady", Level = LogLevel.Information,
        Message = "Shared history: JetStream stream {Stream} keeps {Subjects} for {MaxAge}, at most {PerTopic} messages per topic; event ids are its sequence numbers.")]
    private static partial void LogStreamReady(ILogger logger, string stream, string subjects, TimeSpan maxAge, long perTopic);
}
