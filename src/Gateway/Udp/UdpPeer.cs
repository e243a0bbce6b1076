using System.Globalization;
using System.Net;
using Gateway.Connections;
using Gateway.Protocols.Topics;

namespace Gateway.Udp;

/// <summary>
/// One source address that has sent to a UDP endpoint recently. UDP has no connection, so this is the gateway's memory
/// of the sender, with a <see cref="ConnectionSession"/> like any connection's: the topics rendered for it, its rate
/// limit, its subscriptions and its delivery loop, which sends datagrams back to it until it goes quiet for
/// PeerIdleTimeout.
/// </summary>
/// <remarks>The Node dgram model: 'message' gives the sender's address; replies go to that address.</remarks>
internal sealed class UdpPeer : IConnectionControl
{
    private static long s_lastId;

    private readonly UdpListener _listener;

    /// <exception cref="TopicException">A template renders an invalid topic for this peer.</exception>
    public UdpPeer(UdpListener listener, SocketAddress address, IPEndPoint remote, ConnectionSessions sessions, ILogger logger)
    {
        _listener = listener;
        var endpoint = listener.Endpoint;
        var id = "udp-" + Interlocked.Increment(ref s_lastId).ToString(CultureInfo.InvariantCulture);
        var remoteAddress = remote.ToString();
        Address = address;
        IPAddress = remote.Address;
        RecencyNode = new LinkedListNode<UdpPeer>(this);

        var (publish, subscribe) = endpoint.Topics.Render(new TopicTemplateValues(endpoint.Name, id, remoteAddress, ClientId: null));
        Session = sessions.Create(
            new SessionStart(endpoint.Name, UdpEndpoint.ProtocolName, id, remoteAddress, Identity: null, publish, subscribe,
                subscribe.Length > 0 ? endpoint.Options.Outbox : null, endpoint.Options.Udp.PeerIdleTimeout, LineThrottles: listener.PeerLines,
                RateLimits: endpoint.RateLimits),
            this, logger);
    }

    public ConnectionSession Session { get; }

    /// <summary>The sender's address as the socket reports it: the key of the peer table and the destination of replies.</summary>
    public SocketAddress Address { get; }

    /// <summary>The sender's IP address, which the endpoint's cap of peers per address counts.</summary>
    public IPAddress IPAddress { get; }

    public LinkedListNode<UdpPeer> RecencyNode { get; }

    /// <summary>Completes when the delivery loop has sent what was queued when the peer was forgotten.</summary>
    public Task Delivered { get; private set; } = Task.CompletedTask;

    /// <summary>Opens the session (subscribing the peer's filters) and starts its delivery loop.</summary>
    public void Open()
    {
        Session.Open();
        if (Session.Outbox is not { } outbox) return;
        var delivery = new UdpDelivery(_listener.Socket, _listener.Batched, _listener.Endpoint, _listener.Logger, outbox, Address,
            Session.RemoteAddress, Session.Traffic);
        Delivered = delivery.RunAsync();
    }

    /// <summary>Called by the receive loop for each datagram: refreshes the peer and applies its rate limit.</summary>
    public bool TryAccept(int length)
    {
        Session.Touch();
        if (Session.AdmitMessage(length) is { } breach)
        {
            // Dropped either way; Disconnect forgets the peer too, so it loses its deliveries until it sends again.
            if (breach == RateLimitBreach.Disconnect) Close($"rate limit: faster than {Session.RateLimitSetting} allows");
            return false;
        }

        Session.Traffic.FramesIn++;
        Session.Traffic.BytesIn += length;
        return true;
    }

    /// <summary>Forgets the peer: it gets no more deliveries (what is queued still goes), and its next datagram makes it a new peer.</summary>
    public void Close(string reason)
    {
        if (Session.TrySetCloseReason(reason))
            _listener.Forget(this);
    }

    /// <summary>An overflowing peer is forgotten like any other: UDP has nothing to cut.</summary>
    public void Abort(string reason) => Close(reason);

}
