using System.Net.Sockets;

namespace Gateway.Routing.Tunnels;

/// <summary>Opens the TCP side of a tunnel: a socket connected to its destination, its host name resolved now.</summary>
internal static class TunnelTarget
{
    /// <summary>
    /// The connected socket, or null and why it could not connect, in a few words for a problem or a log line; null and
    /// no problem when <paramref name="cancellationToken"/> (the client leaving) ended the attempt.
    /// </summary>
    public static async Task<(Socket? Socket, string? Problem)> ConnectAsync(HostPort destination, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // Dual mode where the system has IPv6: one socket reaches IPv4 and IPv6 destinations alike.
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await socket.ConnectAsync(destination.SocketHost, destination.Port, deadline.Token).ConfigureAwait(false);
            return (socket, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            return (null, $"{destination} did not answer within Gateway:Tunnels:ConnectTimeout ({timeout})");
        }
        catch (OperationCanceledException)
        {
            // The client left while the tunnel was being set up: nobody to answer.
            socket.Dispose();
            return (null, null);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            return (null, $"{destination} cannot be reached: {Describe(ex.SocketErrorCode)}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static string Describe(SocketError error) => error switch
    {
        SocketError.ConnectionRefused => "connection refused",
        SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "host name not found",
        SocketError.HostUnreachable or SocketError.NetworkUnreachable => "unreachable",
        SocketError.TimedOut => "timed out",
        _ => error.ToString(),
    };
}
