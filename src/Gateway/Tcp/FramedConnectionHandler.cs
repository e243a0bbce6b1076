using System.Net.Sockets;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Gateway.Tcp;

/// <summary>
/// Serves one framed endpoint. Kestrel calls it for each accepted socket; it is stateless and shared,
/// keeping per-connection state in <see cref="FramedConnection"/>.
/// </summary>
internal sealed class FramedConnectionHandler(FramedEndpoint endpoint, IMessageBus bus, ConnectionSessions sessions, ILogger logger)
    : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext context)
    {
        if (!endpoint.TryAcquireConnectionSlot())
        {
            TcpLog.ConnectionRefused(logger, endpoint.Name, context.RemoteEndPoint?.ToString() ?? "unix", endpoint.Options.MaxConnections);
            return;
        }

        try
        {
            ApplySocketOptions(context);
            FramedConnection connection;
            try
            {
                connection = new FramedConnection(context, endpoint, bus, sessions, logger);
            }
            catch (TopicException ex)
            {
                if (endpoint.FramingErrorLog.Allow())
                    TcpLog.FramingError(logger, context.ConnectionId, endpoint.Name, context.RemoteEndPoint?.ToString() ?? "unix", ex.Message);
                return;
            }

            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            endpoint.ReleaseConnectionSlot();
        }
    }

    private void ApplySocketOptions(ConnectionContext context)
    {
        // Both transports set TCP_NODELAY on every accepted socket: only an endpoint that turns it off costs a system call.
        if (endpoint.Options.NoDelay) return;
        var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is { AddressFamily: AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 })
            socket.NoDelay = false;
    }
}
