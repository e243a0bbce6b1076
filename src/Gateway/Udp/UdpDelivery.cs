using System.Net;
using System.Net.Sockets;
using Gateway.Connections;
using Gateway.Messaging;

namespace Gateway.Udp;

/// <summary>
/// The outbound half of UDP: a bounded outbox, drained by one loop that sends each message as one
/// datagram to one address, from the endpoint's own socket (so replies come from the port peers sent to).
/// </summary>
internal sealed class UdpDelivery
{
    private readonly Socket _socket;
    private readonly UdpEndpoint _endpoint;
    private readonly MessageCounters _busCounters;
    private readonly ILogger _logger;
    private readonly SocketAddress _destination;
    private readonly string _remote;
    private readonly ConnectionTraffic? _traffic;

    /// <param name="traffic">The peer's counters to add the sent datagrams to; null for a target, which is no connection.</param>
    /// <param name="onOverflowDisconnect">Called when the outbox overflows under the Disconnect policy.</param>
    public UdpDelivery(Socket socket, UdpEndpoint endpoint, MessageCounters busCounters, ILogger logger,
        SocketAddress destination, string remote, ConnectionTraffic? traffic, Action? onOverflowDisconnect)
    {
        _socket = socket;
        _endpoint = endpoint;
        _busCounters = busCounters;
        _logger = logger;
        _destination = destination;
        _remote = remote;
        _traffic = traffic;
        Outbox = new Outbox(endpoint.Options.Outbox, busCounters, onOverflowDisconnect);
    }

    public Outbox Outbox { get; }

    /// <summary>Sends until the outbox is completed and drained, or the socket is closed.</summary>
    public async Task RunAsync()
    {
        var outbox = Outbox;
        var maxDatagramSize = _endpoint.Options.Udp.MaxDatagramSize;
        try
        {
            while (await outbox.WaitToReadAsync().ConfigureAwait(false))
            {
                while (outbox.TryRead(out var message))
                {
                    var payload = message.Payload;
                    if (payload.Length > maxDatagramSize)
                    {
                        _busCounters.OnDropped(DeliveryOutcome.DroppedUnframeable);
                        Unsendable(message, "larger than MaxDatagramSize");
                        continue;
                    }

                    try
                    {
                        await _socket.SendToAsync(payload, SocketFlags.None, _destination).ConfigureAwait(false);
                    }
                    catch (SocketException ex) when (ex.SocketErrorCode != SocketError.OperationAborted)
                    {
                        // Typically a pending ICMP error of an earlier send, or no route: this message is lost, the loop goes on.
                        Unsendable(message, ex.SocketErrorCode.ToString());
                        continue;
                    }

                    _endpoint.Counters.OnSent(payload.Length);
                    if (_traffic is { } traffic)
                    {
                        traffic.FramesOut++;
                        traffic.BytesOut += payload.Length;
                    }
                }
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // The socket closed at shutdown while messages were still queued: count what is lost.
            while (outbox.TryRead(out var message))
                Unsendable(message, "endpoint closed");
        }
    }

    private void Unsendable(Message message, string reason)
    {
        var count = _endpoint.Counters.OnUnsendable();
        UdpLog.DeliveryDropped(_logger, _endpoint.Name, message.Topic, _remote, reason, count);
    }
}
