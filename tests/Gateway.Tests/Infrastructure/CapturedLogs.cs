using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;

namespace Gateway.Tests.Infrastructure;

/// <summary>Keeps every log line a test gateway writes, and lets a test wait for one.</summary>
internal sealed class CapturedLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<LogLine> _lines = new();

    public IReadOnlyCollection<LogLine> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

    public async Task<LogLine> WaitForAsync(Func<LogLine, bool> predicate, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            var match = _lines.FirstOrDefault(predicate);
            if (match is not null) return match;
            await Task.Delay(20);
        }

        throw new TimeoutException("No matching log line. Lines:\n" + string.Join("\n", _lines.Select(line => line.Message)));
    }

    /// <summary>Lines at Information or above: what the console writes at the gateway's default levels, and more.</summary>
    public int InformationOrAbove => _lines.Count(line => line.Level >= LogLevel.Information);

    /// <summary>
    /// The lines about <paramref name="kind"/> that a log throttle suppressed, summed over its summary lines
    /// ("4990 more lines about failed TLS handshakes on secure were suppressed: ...").
    /// </summary>
    public long SuppressedAbout(string kind)
    {
        var about = $" more lines about {kind} were suppressed";
        long suppressed = 0;
        foreach (var line in _lines)
        {
            var at = line.Message.IndexOf(about, StringComparison.Ordinal);
            if (line.EventId.Name == "LogLinesSuppressed" && at > 0) suppressed += long.Parse(line.Message.AsSpan(0, at), CultureInfo.InvariantCulture);
        }

        return suppressed;
    }

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<LogLine> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue(new LogLine(category, logLevel, eventId, formatter(state, exception)));
    }
}

internal sealed record LogLine(string Category, LogLevel Level, EventId EventId, string Message);
