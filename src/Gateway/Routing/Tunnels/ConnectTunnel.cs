using System.IO.Pipelines;
using System.Net.Sockets;
using Gateway.Connections;

namespace Gateway.Routing.Tunnels;

/// <summary>
/// One HTTP <c>CONNECT</c> tunnel once answered 200: two loops that carry bytes between the client's connection and
/// the destination's socket until either side closes.
/// </summary>
/// <remarks>
/// The client's half-close is passed on: when its input ends, the destination's socket shuts down its sending side,
/// and what the destination still sends reaches the client until the destination closes. The destination's end closes
/// the client's connection: Kestrel's transports close both directions once a connection's output is complete.
/// </remarks>
internal sealed class ConnectTunnel(IDuplexPipe client, Action abortClient, Socket destination, in SessionStart start, ConnectionSessions sessions, ILogger logger)
    : TunnelConnection(destination, start, sessions, logger)
{
    /// <summary>The endpoint, and the protocol, of <c>CONNECT</c> tunnels, as the admin API and the metrics name them.</summary>
    public const string EndpointName = "connect";

    /// <summary>The close reason when the destination closes first.</summary>
    public const string DestinationClosed = "destination closed";

    /// <summary>The close reason when the destination's socket fails.</summary>
    public const string DestinationFailed = "destination failed";

    private const int MinimumReadSize = 4096;

    /// <summary>An admin's disconnect: both sides close now; a byte tunnel has no queue of its own to drain.</summary>
    public override void Close(string reason)
    {
        Session.TrySetCloseReason(reason);
        Stop();
    }

    public override void Abort(string reason)
    {
        Session.TrySetCloseReason(reason);
        abortClient();
        Stop();
    }

    public override void OnServerStopping() => Close(CloseReasons.ServerShutdown);

    /// <summary>Completing the client's output closes its connection (after TLS's close_notify on HTTPS).</summary>
    protected override ValueTask OnEndedAsync() => client.Output.CompleteAsync();

    protected override async Task ClientToDestinationAsync()
    {
        var input = client.Input;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync(Stopping).ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    foreach (var segment in buffer)
                    {
                        // Counted as received, before it is forwarded: the destination's answer can reach the client
                        // (and the client read the counters) before this send's continuation runs.
                        Session.Traffic.BytesIn += segment.Length;
                        await Destination.SendAsync(segment, SocketFlags.None, Stopping).ConfigureAwait(false);
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.End);
                }

                if (result.IsCompleted)
                {
                    // The client half-closed: the destination sees its end of input, and may still answer.
                    Session.TrySetCloseReason(CloseReasons.PeerClosed);
                    Destination.Shutdown(SocketShutdown.Send);
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            Session.TrySetCloseReason(ex is SocketException ? DestinationFailed : CloseReasons.Reset);
            TunnelLog.Fault(Logger, Session.Id, ex);
            Stop();
        }
    }

    protected override async Task DestinationToClientAsync()
    {
        var output = client.Output;
        try
        {
            while (true)
            {
                var received = await Destination.ReceiveAsync(output.GetMemory(MinimumReadSize), SocketFlags.None, Stopping).ConfigureAwait(false);
                if (received == 0)
                {
                    Session.TrySetCloseReason(DestinationClosed);
                    break;
                }

                output.Advance(received);
                Session.Traffic.BytesOut += received;
                var flushed = await output.FlushAsync(Stopping).ConfigureAwait(false);
                if (flushed.IsCompleted || flushed.IsCanceled) break;
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
        {
            Session.TrySetCloseReason(ex is SocketException ? DestinationFailed : CloseReasons.Reset);
            TunnelLog.Fault(Logger, Session.Id, ex);
        }

        // Whatever ended this side ends the tunnel: the client's loop stops reading.
        Stop();
    }
}
