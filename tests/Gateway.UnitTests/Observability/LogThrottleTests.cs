using Gateway.Observability;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Gateway.UnitTests.Observability;

public sealed class LogThrottleTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly RecordingLogger _logger = new();

    [Fact]
    public void Lines_past_the_limit_are_suppressed_and_summarised_once_when_the_interval_ends()
    {
        var throttle = new LogThrottle(_logger, "framing errors on echo", limit: 3, TimeSpan.FromSeconds(10), _time);

        var allowed = Enumerable.Range(0, 1000).Count(_ => throttle.Allow());

        Assert.Equal(3, allowed);
        Assert.Empty(_logger.Lines);
        _time.Advance(TimeSpan.FromSeconds(10));
        var summary = Assert.Single(_logger.Lines);
        Assert.Contains("997 more lines about framing errors on echo were suppressed", summary);
        Assert.Equal(997, throttle.TotalSuppressed);
    }

    [Fact]
    public void A_new_interval_allows_the_limit_again()
    {
        var throttle = new LogThrottle(_logger, "x", limit: 2, TimeSpan.FromSeconds(10), _time);
        for (var i = 0; i < 5; i++) throttle.Allow();
        _time.Advance(TimeSpan.FromSeconds(10));

        Assert.True(throttle.Allow());
        Assert.True(throttle.Allow());
        Assert.False(throttle.Allow());
    }

    [Fact]
    public void Occurrences_within_the_limit_write_no_summary()
    {
        var throttle = new LogThrottle(_logger, "x", limit: 5, TimeSpan.FromSeconds(1), _time);
        for (var round = 0; round < 10; round++)
        {
            for (var i = 0; i < 5; i++) Assert.True(throttle.Allow());
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        Assert.Empty(_logger.Lines);
        Assert.Equal(0, throttle.TotalSuppressed);
    }

    [Fact]
    public void Lines_from_many_threads_stay_within_the_limit()
    {
        var throttle = new LogThrottle(_logger, "x", limit: 10, TimeSpan.FromSeconds(10), _time);
        var allowed = 0;
        Parallel.For(0, 100_000, _ =>
        {
            if (throttle.Allow()) Interlocked.Increment(ref allowed);
        });

        Assert.Equal(10, allowed);
        Assert.Equal(100_000 - 10, throttle.TotalSuppressed);
    }

    private sealed class RecordingLogger : ILogger
    {
        public List<string> Lines { get; } = [];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Lines) Lines.Add(formatter(state, exception));
        }
    }
}
