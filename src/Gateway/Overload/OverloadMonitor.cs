using System.Diagnostics.Metrics;
using Gateway.Configuration;
using Gateway.Observability;

namespace Gateway.Overload;

/// <summary>
/// Samples the process's working set and keeps the overload state (<c>Gateway:Overload</c>): entered when the working set
/// reaches the high threshold, left when it falls below the low one, so a process hovering at one threshold does not
/// flap. Each transition is logged once and counted. What refuses work while overloaded asks <see cref="IsOverloaded"/>,
/// one field read.
/// </summary>
internal sealed class OverloadMonitor : BackgroundService
{
    private const string TransitionTag = "gateway.overload.transition";
    private const string ThresholdTag = "gateway.overload.threshold";

    private readonly OverloadOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private volatile bool _overloaded;
    private long _workingSet;
    private long _started;
    private long _ended;
    private long _startedAt;

    public OverloadMonitor(IOptions<GatewayOptions> options, IMeterFactory meters, ILoggerFactory loggers, TimeProvider time)
    {
        _options = options.Value.Overload;
        _logger = loggers.CreateLogger("Gateway.Overload");
        _time = time;
        Thresholds = _options.Resolve(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes);
        RegisterMetrics(meters);
    }

    public bool Enabled => _options.Enabled;

    /// <summary>True from the sample that reached the high threshold to the one that fell below the low one.</summary>
    public bool IsOverloaded => _overloaded;

    public MemoryThresholds Thresholds { get; }

    /// <summary>The working set at the last sample, in bytes.</summary>
    public long WorkingSetBytes => Volatile.Read(ref _workingSet);

    /// <summary>The <c>Retry-After</c> an HTTP refusal gives.</summary>
    public TimeSpan RetryAfter => _options.RetryAfter;

    /// <summary>Samples once before the listeners start, so a process started over its threshold refuses from its first connection.</summary>
    public override Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled) return Task.CompletedTask;
        OverloadLog.Watching(_logger, Thresholds.HighBytes, _options.HighSetting, Thresholds.LowBytes, _options.LowSetting, Thresholds.AvailableBytes);
        Sample();
        return base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.SampleInterval, _time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            Sample();
    }

    /// <summary>Reads the working set and crosses a threshold if it must. Only the sampling loop calls it, so transitions never race.</summary>
    private void Sample()
    {
        var workingSet = ResidentMemory.Read();
        Volatile.Write(ref _workingSet, workingSet);
        if (!_overloaded && workingSet >= Thresholds.HighBytes)
        {
            _overloaded = true;
            _startedAt = _time.GetTimestamp();
            Interlocked.Increment(ref _started);
            OverloadLog.Started(_logger, workingSet, Thresholds.HighBytes, _options.HighSetting, Thresholds.LowBytes);
        }
        else if (_overloaded && workingSet < Thresholds.LowBytes)
        {
            _overloaded = false;
            Interlocked.Increment(ref _ended);
            OverloadLog.Ended(_logger, workingSet, Thresholds.LowBytes, _time.GetElapsedTime(_startedAt).TotalSeconds);
        }
    }

    private void RegisterMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(GatewayMetrics.MeterName);
        meter.CreateObservableGauge("gateway.overload.active", () => _overloaded ? 1 : 0, "{state}",
            "1 while the process is past its high memory threshold and refuses new connections, 0 otherwise.");
        meter.CreateObservableCounter("gateway.overload.transitions", ObserveTransitions, "{transition}",
            "Times the process entered overload (gateway.overload.transition=started) and left it (ended).");
        meter.CreateObservableGauge("gateway.overload.threshold", ObserveThresholds, "By",
            "The working set at which overload starts (gateway.overload.threshold=high) and below which it ends (low); compare with dotnet.process.memory.working_set.");
    }

    private IEnumerable<Measurement<long>> ObserveTransitions()
    {
        yield return new(Volatile.Read(ref _started), new KeyValuePair<string, object?>(TransitionTag, "started"));
        yield return new(Volatile.Read(ref _ended), new KeyValuePair<string, object?>(TransitionTag, "ended"));
    }

    private IEnumerable<Measurement<long>> ObserveThresholds()
    {
        if (!_options.Enabled) yield break;
        yield return new(Thresholds.HighBytes, new KeyValuePair<string, object?>(ThresholdTag, "high"));
        yield return new(Thresholds.LowBytes, new KeyValuePair<string, object?>(ThresholdTag, "low"));
    }
}
