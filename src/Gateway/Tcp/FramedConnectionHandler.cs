using System.Net.Sockets;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Security;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Gateway.Tcp;

/// <summary>
/// Serves one framed endpoint. Kestrel calls it for each accepted socket; it is stateless and shared,
/// keeping per-connection state in <see cref="FramedConnection"/>.
/// </summary>
internal sealed class FramedConnectionHandler(FramedEndpoint endpoint, IMessageBus bus, ConnectionRegistry registry, PermissionPolicy permissions, ILogger logger)
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
                connection = new FramedConnection(context, endpoint, bus, permissions, logger);
            }
            catch (TopicException ex)
            {
                TcpLog.FramingError(logger, context.ConnectionId, endpoint.Name, context.RemoteEndPoint?.ToString() ?? "unix", ex.Message);
                return;
            }

            connection.Open();
            registry.Add(connection);
            TcpLog.ConnectionOpened(logger, connection.Id, endpoint.Name, connection.RemoteAddress, connection.Identity ?? PermissionPolicy.Anonymous);
            try
            {
                await connection.RunAsync().ConfigureAwait(false);
            }
            finally
            {
                registry.Remove(connection);
                var traffic = connection.Traffic;
                TcpLog.ConnectionClosed(logger, connection.Id, endpoint.Name, connection.RemoteAddress, connection.Identity ?? PermissionPolicy.Anonymous,
                    (long)(DateTimeOffset.UtcNow - connection.ConnectedAt).TotalMilliseconds, connection.CloseReason,
                    traffic.BytesIn, traffic.FramesIn, traffic.BytesOut, traffic.FramesOut);
            }
        }
        finally
        {
            endpoint.ReleaseConnectionSlot();
        }
    }

    private void ApplySocketOptions(ConnectionContext context)
    {
        var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is { AddressFamily: AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 })
            socket.NoDelay = endpoint.Options.NoDelay;
    }
}
