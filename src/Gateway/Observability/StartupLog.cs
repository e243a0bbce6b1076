using Serilog.Extensions.Logging;

namespace Gateway.Observability;

/// <summary>
/// Keeps the generic host's "Hosting failed to start" error, with its stack trace, out of the log while the gateway
/// starts: a failed start is told once, by the message that names the setting to change (a port in use, a bad
/// setting), which <see cref="GatewayApplication.StartAsync"/> makes of the same exception. A failure it cannot
/// describe is not lost: it leaves the process as an unhandled exception, with its stack trace.
/// </summary>
internal sealed class StartupLog
{
    // Kestrel itself logs nothing when a bind fails; the host logs the exception before it rethrows it.
    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    private volatile bool _starting;

    /// <summary>Adds the filter to the builder's logging; the gateway's start turns it on through <see cref="Starting"/>.</summary>
    public static void AddTo(WebApplicationBuilder builder)
    {
        var log = new StartupLog();
        builder.Services.AddSingleton(log);
        Func<LogLevel, bool> allow = level => !(log._starting && level >= LogLevel.Error);
        builder.Logging.AddFilter(HostCategory, allow);
        // A provider with rules of its own (GatewayLogging's Serilog has one) is filtered only by its own rules.
        builder.Logging.AddFilter<SerilogLoggerProvider>(HostCategory, allow);
    }

    /// <summary>Quiets the host's errors until the returned scope ends.</summary>
    public static IDisposable Starting(IServiceProvider services)
    {
        var log = services.GetRequiredService<StartupLog>();
        log._starting = true;
        return new Scope(log);
    }

    private sealed class Scope(StartupLog log) : IDisposable
    {
        public void Dispose() => log._starting = false;
    }
}
