namespace Gateway.Observability;

/// <summary>
/// Bounds one kind of log line that a peer can cause at will (a failed TLS handshake, a framing error, a denied
/// publish, a UDP peer tracked or forgotten): at most <see cref="Limit"/> lines per interval. Past that, occurrences are
/// only counted, and when the interval ends one line says how many were suppressed. The metrics keep the full counts;
/// this only keeps an attack from flooding the log and from costing the gateway the time to write it.
/// </summary>
/// <remarks>
/// Usage: <c>if (throttle.Allow()) SomeLog.Line(...)</c>. The summary is written by a one-shot timer armed by the first
/// suppressed line of an interval, so it appears even when the attack stops; a quiet throttle holds no timer.
/// </remarks>
internal sealed class LogThrottle
{
    /// <summary>Lines of one kind per interval unless a caller sets another limit.</summary>
    public const int DefaultLimit = 10;

    /// <summary>The interval unless a caller sets another.</summary>
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(10);

    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly long _intervalTicks;
    private readonly Lock _lock = new();
    private long _windowStart;
    private int _allowed;
    private long _suppressed;
    private ITimer? _summaryTimer;

    /// <param name="logger">Where the summary line goes: the suppressed lines' own logger, so their category filters it too.</param>
    /// <param name="kind">What the lines are about, for the summary: "failed TLS handshakes on echo-tls".</param>
    public LogThrottle(ILogger logger, string kind, int limit = DefaultLimit, TimeSpan? interval = null, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        _logger = logger;
        _time = time ?? TimeProvider.System;
        Kind = kind;
        Limit = limit;
        Interval = interval ?? DefaultInterval;
        _intervalTicks = (long)(Interval.TotalSeconds * _time.TimestampFrequency);
        _windowStart = _time.GetTimestamp();
    }

    public string Kind { get; }

    public int Limit { get; }

    public TimeSpan Interval { get; }

    /// <summary>Lines suppressed since start, summaries aside.</summary>
    public long TotalSuppressed { get; private set; }

    /// <summary>Whether this occurrence may be logged; when not, it is counted for the interval's summary line.</summary>
    public bool Allow()
    {
        lock (_lock)
        {
            var now = _time.GetTimestamp();
            if (now - _windowStart >= _intervalTicks && _suppressed == 0)
            {
                _windowStart = now;
                _allowed = 0;
            }

            if (_allowed < Limit && _suppressed == 0)
            {
                _allowed++;
                return true;
            }

            if (_suppressed++ == 0)
            {
                var due = TimeSpan.FromSeconds(Math.Max(0, _windowStart + _intervalTicks - now) / (double)_time.TimestampFrequency);
                _summaryTimer ??= _time.CreateTimer(static state => ((LogThrottle)state!).WriteSummary(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                _summaryTimer.Change(due, Timeout.InfiniteTimeSpan);
            }

            TotalSuppressed++;
            return false;
        }
    }

    /// <summary>At the end of an interval with suppressed lines: one line with their number, and a new interval begins.</summary>
    private void WriteSummary()
    {
        long suppressed;
        lock (_lock)
        {
            suppressed = _suppressed;
            _suppressed = 0;
            _allowed = 0;
            _windowStart = _time.GetTimestamp();
        }

        if (suppressed > 0) LogThrottleLog.Suppressed(_logger, suppressed, Kind, Interval.TotalSeconds, Limit);
    }
}

/// <summary>The summary line of <see cref="LogThrottle"/>. Event ids from <see cref="LogEventIds.Observability"/>.</summary>
internal static partial class LogThrottleLog
{
    [LoggerMessage(EventId = LogEventIds.Observability, EventName = "LogLinesSuppressed", Level = LogLevel.Warning,
        Message = "{Suppressed} more lines about {Kind} were suppressed: at most {Limit} are written per {IntervalSeconds} s; the metrics count every one")]
    public static partial void Suppressed(ILogger logger, long suppressed, string kind, double intervalSeconds, int limit);
}
