using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Overload;
using Microsoft.Extensions.Hosting;

namespace Gateway.Udp;

/// <summary>
/// Runs every enabled UDP endpoint: binds each socket when the host starts (so a port in use stops the
/// start, as it does for TCP) and runs one receive loop per endpoint until the host stops.
/// </summary>
internal sealed class UdpEndpointService(UdpEndpointCatalog catalog, IMessageBus bus, ConnectionSessions sessions, Rejections rejections,
    OverloadRefusals overload, ILoggerFactory loggers, IOptions<GatewayOptions> gateway) : BackgroundService
{
    private readonly List<UdpListener> _listeners = [];

    public override Task StartAsync(CancellationToken cancellationToken)
    {
        var logger = loggers.CreateLogger("Gateway.Udp");
        // The epoll transport's choice covers UDP too: batched system calls on Linux, the runtime's socket engine elsewhere.
        var batchedIo = gateway.Value.Transport.Kind == TransportKind.Epoll;
        try
        {
            foreach (var endpoint in catalog.Endpoints)
            {
                var listener = new UdpListener(endpoint, bus, sessions, rejections, overload, logger, batchedIo);
                _listeners.Add(listener);
                listener.Bind();
            }
        }
        catch
        {
            foreach (var listener in _listeners)
                listener.Dispose();
            throw;
        }

        return base.StartAsync(cancellationToken);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var loops = new Task[_listeners.Count];
        for (var i = 0; i < loops.Length; i++)
            loops[i] = _listeners[i].RunAsync(stoppingToken);
        return Task.WhenAll(loops);
    }
}
