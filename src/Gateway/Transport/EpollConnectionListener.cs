using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Connections;

namespace Gateway.Transport;

/// <summary>
/// A bound listening socket. Accepting is rare next to reading and sending, so it stays on the runtime's
/// socket engine; each accepted socket then moves to an epoll loop for good.
/// </summary>
/// <param name="socket">Null for an optional address that could not be bound: the listener then accepts nothing.</param>
internal sealed class EpollConnectionListener(Socket? socket, EndPoint endPoint, EpollTransportFactory transport) : IConnectionListener
{
    private readonly TaskCompletionSource _unbound = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public EndPoint EndPoint { get; } = endPoint;

    public async ValueTask<ConnectionContext?> AcceptAsync(CancellationToken cancellationToken = default)
    {
        if (socket is null)
        {
            await _unbound.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return null;
        }

        while (true)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                return null; // unbound
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.OperationAborted)
            {
                return null; // unbound
            }
            catch (SocketException)
            {
                continue; // reset while it waited in the backlog: take the next one
            }

            try
            {
                return transport.Accept(accepted);
            }
            catch (IOException)
            {
                accepted.Dispose(); // the socket failed before a loop took it: take the next one
            }
        }
    }

    public ValueTask UnbindAsync(CancellationToken cancellationToken = default)
    {
        socket?.Dispose();
        _unbound.TrySetResult();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync() => UnbindAsync();
}
