using System.Net;
using System.Net.Sockets;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Observability;
using Gateway.Protocols.Topics;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;

namespace Gateway.Tcp;

/// <summary>
/// Serves one framed endpoint. Kestrel calls it for each accepted socket; it is shared by the endpoint's connections
/// (it admits or refuses each one) and keeps per-connection state in <see cref="FramedConnection"/>.
/// </summary>
internal sealed class FramedConnectionHandler(FramedEndpoint endpoint, IMessageBus bus, ConnectionSessions sessions, Rejections rejections, ILogger logger)
    : ConnectionHandler
{
    private readonly LogThrottle _refusedLog = new(logger, $"connections refused on {endpoint.Name}");

    public override async Task OnConnectedAsync(ConnectionContext context)
    {
        var address = (context.RemoteEndPoint as IPEndPoint)?.Address;
        if (Admit(address) is { } refusal)
        {
            // Returning closes the socket with a FIN: the peer reads the end of the stream, not a reset.
            var refused = rejections.Count(endpoint.Name, refusal);
            if (_refusedLog.Allow())
                TcpLog.ConnectionRefused(logger, endpoint.Name, context.RemoteEndPoint?.ToString() ?? "unix", Describe(refusal, address), refusal, refused);
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
                // A template rendered no valid topic for this peer (a client certificate's name too long for one).
                rejections.Count(endpoint.Name, RejectionReasons.InvalidTopic);
                if (endpoint.FramingErrorLog.Allow())
                    TcpLog.FramingError(logger, context.ConnectionId, endpoint.Name, context.RemoteEndPoint?.ToString() ?? "unix", ex.Message);
                return;
            }

            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            endpoint.ReleaseConnectionSlot();
            endpoint.Admission.Release(address);
        }
    }

    /// <summary>Takes a connection slot and passes the endpoint's admission limits; null when admitted, else the reason of the refusal.</summary>
    private string? Admit(IPAddress? address)
    {
        if (!endpoint.TryAcquireConnectionSlot()) return RejectionReasons.MaxConnections;
        if (!endpoint.Admission.Limits || endpoint.Admission.TryAdmit(address) is not { } refusal) return null;
        endpoint.ReleaseConnectionSlot();
        return refusal;
    }

    private string Describe(string refusal, IPAddress? address) => refusal switch
    {
        RejectionReasons.MaxConnections => $"MaxConnections ({endpoint.Options.MaxConnections}) are open",
        RejectionReasons.MaxConnectionsPerAddress => $"{address} holds Limits:MaxConnectionsPerAddress ({endpoint.Options.Limits.MaxConnectionsPerAddress})",
        _ => $"more than Limits:ConnectionsPerSecond ({endpoint.Options.Limits.ConnectionsPerSecond}) new connections",
    };

    private void ApplySocketOptions(ConnectionContext context)
    {
        // Both transports set TCP_NODELAY on every accepted socket: only an endpoint that turns it off costs a system call.
        if (endpoint.Options.NoDelay) return;
        var socket = context.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket is { AddressFamily: AddressFamily.InterNetwork or AddressFamily.InterNetworkV6 })
            socket.NoDelay = false;
    }
}
