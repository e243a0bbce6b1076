using System.Net;
using System.Net.Sockets;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Transport;

namespace Gateway.Udp;

/// <summary>
/// The outbound adapter of UDP: one loop drains a peer session's outbox and sends each message as one datagram to the
/// peer's address, from the endpoint's own socket (so replies come from the port peers sent to).
/// </summary>
internal sealed class UdpDelivery : IDatagramSendCompletion
{
    private readonly Socket _socket;
    private readonly BatchedDatagramSocket? _batched;
    private readonly UdpEndpoint _endpoint;
    private readonly ILogger _logger;
    private readonly SocketAddress _destination;
    private readonly string _remote;
    private readonly ConnectionTraffic _traffic;
    private readonly Outbox _outbox;

    /// <param name="batched">The endpoint's batched socket, which then sends instead of <paramref name="socket"/>; null with the socket transport.</param>
    /// <param name="outbox">What to send.</param>
    /// <param name="traffic">The peer's counters to add the sent datagrams to.</param>
    public UdpDelivery(Socket socket, BatchedDatagramSocket? batched, UdpEndpoint endpoint, ILogger logger,
        Outbox outbox, SocketAddress destination, string remote, ConnectionTraffic traffic)
    {
        _socket = socket;
        _batched = batched;
        _endpoint = endpoint;
        _logger = logger;
        _destination = destination;
        _remote = remote;
        _traffic = traffic;
        _outbox = outbox;
    }

    /// <summary>Sends until the outbox is completed and drained, or the socket is closed.</summary>
    public async Task RunAsync()
    {
        var outbox = _outbox;
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
                        outbox.Counters.OnDropped(DeliveryOutcome.DroppedUnframeable);
                        OnUnsendable(message, "larger than MaxDatagramSize");
                        continue;
                    }

                    if (_batched is { } batched)
                    {
                        // Counted when it has left, by OnSent or OnUnsendable.
                        batched.Send(payload.Span, _destination, this, message);
                        continue;
                    }

                    try
                    {
                        await _socket.SendToAsync(payload, SocketFlags.None, _destination).ConfigureAwait(false);
                    }
                    catch (SocketException ex) when (ex.SocketErrorCode != SocketError.OperationAborted)
                    {
                        // Typically a pending ICMP error of an earlier send, or no route: this message is lost, the loop goes on.
                        OnUnsendable(message, ex.SocketErrorCode.ToString());
                        continue;
                    }

                    OnSent(message);
                }
            }
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // The socket closed at shutdown while messages were still queued: count what is lost.
            while (outbox.TryRead(out var message))
                OnUnsendable(message, "endpoint closed");
        }
    }

    void IDatagramSendCompletion.OnSent(object state) => OnSent((Message)state);

    void IDatagramSendCompletion.OnUnsendable(object state, string reason) => OnUnsendable((Message)state, reason);

    /// <summary>Counts a datagram that has gone out.</summary>
    private void OnSent(Message message)
    {
        var length = message.Payload.Length;
        _endpoint.Counters.OnSent(length);
        _traffic.FramesOut++;
        _traffic.BytesOut += length;
    }

    /// <summary>Counts and logs a message that could not go out.</summary>
    private void OnUnsendable(Message message, string reason)
    {
        var count = _endpoint.Counters.OnUnsendable();
        UdpLog.DeliveryDropped(_logger, _endpoint.Name, message.Topic, _remote, reason, count);
    }
}
