using Gateway.Configuration;

namespace Gateway.Connections;

/// <summary>
/// The graceful drain at shutdown. On SIGTERM the host marks itself not ready (<c>/readyz</c>), this tells every
/// connection the server is stopping (WebSockets and event streams close; Kestrel asks its TCP connections, the UDP
/// service its peers), listeners stop accepting, and each connection sends what its outbox holds before it closes;
/// what is still open when <c>Gateway:Shutdown:DrainTimeout</c> runs out is cut off. It logs how many connections
/// there were, and how many had to be cut off.
/// </summary>
internal sealed partial class ShutdownDrain(
    IHostApplicationLifetime lifetime, ConnectionRegistry registry, IOptions<GatewayOptions> options, ILogger<ShutdownDrain> logger) : IHostedService
{
    private long _stoppingAt;
    private int _openWhenStopping;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStopping.Register(OnStopping);
        lifetime.ApplicationStopped.Register(OnStopped);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private void OnStopping()
    {
        _stoppingAt = Environment.TickCount64;
        _openWhenStopping = registry.BeginShutdown();
        Draining(logger, _openWhenStopping, options.Value.Shutdown.DrainTimeout);
    }

    private void OnStopped()
    {
        // Connections that arrived during the drain were told to close too; any of them still open counts as cut off.
        var cutOff = registry.Count;
        Drained(logger, Math.Max(0, _openWhenStopping - cutOff), cutOff, Environment.TickCount64 - _stoppingAt);
    }

    [LoggerMessage(EventId = LogEventIds.Connections + 10, EventName = "Draining", Level = LogLevel.Information,
        Message = "Shutting down: not ready, accepting no new connections; {Open} open connections send what they have queued and close, within {DrainTimeout}")]
    private static partial void Draining(ILogger logger, int open, TimeSpan drainTimeout);

    [LoggerMessage(EventId = LogEventIds.Connections + 11, EventName = "Drained", Level = LogLevel.Information,
        Message = "Shut down after {ElapsedMs} ms: {Closed} connections closed after draining, {CutOff} cut off at the drain timeout")]
    private static partial void Drained(ILogger logger, int closed, int cutOff, long elapsedMs);
}
