using Microsoft.Extensions.Hosting;

namespace Gateway.Connections;

/// <summary>
/// Ticks once a second and lets each connection check its timeouts, the way Kestrel's heartbeat does:
/// one timer for the process instead of a timer reset on every read.
/// </summary>
internal sealed class ConnectionHeartbeat(ConnectionRegistry registry, TimeProvider time) : BackgroundService
{
    private static readonly TimeSpan s_interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(s_interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                var now = Environment.TickCount64;
                foreach (var connection in registry.All)
                    connection.OnHeartbeat(now);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // A host disposed without being stopped (its start failed on a bad setting) cancels the heartbeat this way;
            // the host would log that as a faulted service, an error on top of the one that names the setting.
        }
    }
}
