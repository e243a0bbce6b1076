using System.Net.Sockets;
using Gateway.Connections;

namespace Gateway.Routing.Tunnels;

/// <summary>
/// What every tunnel shares: its session, the socket to its destination, a loop each way, and a stop signal that ends
/// them. A CONNECT tunnel and a WebSocket bridge differ only in the client side of their loops and in how they close.
/// </summary>
internal abstract class TunnelConnection : IConnectionControl
{
    private readonly CancellationTokenSource _stop = new();

    protected TunnelConnection(Socket destination, in SessionStart start, ConnectionSessions sessions, ILogger logger)
    {
        Destination = destination;
        Logger = logger;
        Session = sessions.Create(start, this, logger);
    }

    public ConnectionSession Session { get; }

    protected Socket Destination { get; }

    protected ILogger Logger { get; }

    /// <summary>Cancelled once the tunnel is to end.</summary>
    protected CancellationToken Stopping => _stop.Token;

    /// <summary>Opens the session, runs both loops until they end, then closes the destination and ends the session.</summary>
    public async Task RunAsync()
    {
        Session.Open();
        try
        {
            await Task.WhenAll(ClientToDestinationAsync(), DestinationToClientAsync()).ConfigureAwait(false);
        }
        finally
        {
            Destination.Dispose();
            await OnEndedAsync().ConfigureAwait(false);
            _stop.Dispose();
            Session.End();
        }
    }

    public abstract void Close(string reason);

    public abstract void Abort(string reason);

    public abstract void OnServerStopping();

    /// <summary>Carries the client's bytes to the destination.</summary>
    protected abstract Task ClientToDestinationAsync();

    /// <summary>Carries the destination's bytes to the client.</summary>
    protected abstract Task DestinationToClientAsync();

    /// <summary>Both loops have ended and the destination is closed: the client's side closes.</summary>
    protected virtual ValueTask OnEndedAsync() => ValueTask.CompletedTask;

    /// <summary>Ends both loops; safe to call from any thread, any number of times, also once the tunnel has ended.</summary>
    protected void Stop()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // Already ended.
        }
    }
}
