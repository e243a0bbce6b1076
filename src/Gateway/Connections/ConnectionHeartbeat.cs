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
        // Stopping cancels the wait; a start that failed stops the host before disposing it
        // (GatewayApplication.StartAsync), so the host takes that as a stop, not as a failed service.
        using var timer = new PeriodicTimer(s_interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            var now = Environment.TickCount64;
            foreach (var connection in registry.All)
                connection.OnHeartbeat(now);
        }
    }
}
