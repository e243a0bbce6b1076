using System.Buffers;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Overload;
using Gateway.Protocols.Topics;
using Gateway.Transport;

namespace Gateway.Udp;

/// <summary>
/// The socket of one UDP endpoint and its receive loop: each datagram becomes one message on the sender's
/// publish topic. Deliveries leave through the same socket, to the recent peers.
/// </summary>
/// <remarks>
/// The Node dgram lifecycle maps onto it: listening = <see cref="Bind"/>; message = the receive loop;
/// close = <see cref="RunAsync"/> returns; error = logged, and the loop goes on (one bad datagram or one
/// vanished peer never stops the endpoint).
/// </remarks>
internal sealed class UdpListener : IDatagramReceiver, IDisposable
{
    // Windows reports an ICMP port unreachable as a reset on the next receive unless this is turned off.
    private const int SioUdpConnReset = unchecked((int)0x9800000C);

    // After an unexpected receive error, so a persistent one logs a few lines a second instead of spinning.
    private static readonly TimeSpan ErrorBackoff = TimeSpan.FromMilliseconds(100);

    private readonly IMessageBus _bus;
    private readonly ConnectionSessions _sessions;
    private readonly ILogger _logger;
    private readonly int _maxDatagramSize;
    private readonly bool _batchedIo;
    private readonly RejectionCounter _displaced;
    private readonly OverloadRefusals _overload;
    private readonly Rejections _rejections;
    private readonly string _displacedReason;
    private Socket? _socket;
    private IPEndPoint _addressTemplate = new(IPAddress.Any, 0);

    /// <param name="batchedIo">Receive and send in batches on a thread of the endpoint's own (Linux, the epoll transport).</param>
    public UdpListener(UdpEndpoint endpoint, IMessageBus bus, ConnectionSessions sessions, Rejections rejections, OverloadRefusals overload, ILogger logger, bool batchedIo)
    {
        Endpoint = endpoint;
        _batchedIo = batchedIo;
        _bus = bus;
        _sessions = sessions;
        _logger = logger;
        _maxDatagramSize = endpoint.Options.Udp.MaxDatagramSize;
        // A sender makes a new peer with each new source port: a flood of them must not write two lines each.
        PeerLines = ConnectionLineThrottles.For(logger, endpoint.Name, "UDP peers");
        _displaced = rejections.For(endpoint.Name, RejectionReasons.MaxPeers);
        _overload = overload;
        _rejections = rejections;
        _displacedReason = string.Create(CultureInfo.InvariantCulture, $"displaced: MaxPeers ({endpoint.Peers.Capacity}) tracked");
    }

    public UdpEndpoint Endpoint { get; }

    /// <summary>The UDP category's logger, which the endpoint's peers log through too.</summary>
    public ILogger Logger => _logger;

    /// <summary>The throttles of the endpoint's peers' open and close lines.</summary>
    public ConnectionLineThrottles PeerLines { get; }

    public Socket Socket => _socket ?? throw new InvalidOperationException($"UDP endpoint {Endpoint.Name} is not bound.");

    /// <summary>The batched receive and send of the socket; null with the socket transport.</summary>
    public BatchedDatagramSocket? Batched { get; private set; }

    /// <summary>
    /// Binds the socket. Runs at start, so an address in use stops the start with a message naming the setting.
    /// </summary>
    /// <exception cref="GatewayStartupException">The address cannot be bound.</exception>
    public void Bind()
    {
        var address = ListenAddress.ResolveSingle(Endpoint.Address);
        var port = Endpoint.Options.Port ?? 0;
        var socket = new Socket(address.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (address.AddressFamily == AddressFamily.InterNetworkV6)
                socket.DualMode = address.Equals(IPAddress.IPv6Any);
            if (OperatingSystem.IsWindows())
                socket.IOControl(SioUdpConnReset, [0, 0, 0, 0], null);
            socket.ReceiveBufferSize = Endpoint.Options.Udp.ReceiveBufferSize;
            socket.SendBufferSize = Endpoint.Options.Udp.SendBufferSize;
            socket.Bind(new IPEndPoint(address, port));
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            var setting = $"{GatewayOptions.SectionName}:Endpoints:{Endpoint.Name}";
            var message = ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                ? $"{setting}:Port ({port}) is already in use for UDP on {Endpoint.Address}: {ex.Message}"
                : $"{setting}:Address ({Endpoint.Address}) port {port} cannot be bound for UDP: {ex.Message}";
            // The socket error travels as text: GatewayApplication would describe an exception chain holding an
            // address-in-use SocketException as a clash of the TCP or HTTP ports, and this message is already precise.
            throw new GatewayStartupException(message, new IOException(ex.Message));
        }

        _socket = socket;
        if (_batchedIo) Batched = new BatchedDatagramSocket(socket, _maxDatagramSize, $"UDP {Endpoint.Name}");
        _addressTemplate = new IPEndPoint(address.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Any : IPAddress.Any, 0);
        Endpoint.BoundEndPoint = (IPEndPoint)socket.LocalEndPoint!;
    }

    /// <summary>Receives until <paramref name="stopping"/> fires, then forgets every peer, lets queued deliveries go out, and closes.</summary>
    public async Task RunAsync(CancellationToken stopping)
    {
        var socket = Socket;
        // One byte more than the limit, so a datagram over it is seen as such (Linux silently cuts it to the buffer).
        var buffer = Batched is null ? ArrayPool<byte>.Shared.Rent(_maxDatagramSize + 1) : null;
        try
        {
            if (Batched is { } batched) await batched.RunAsync(this, stopping).ConfigureAwait(false);
            else await ReceiveLoopAsync(socket, buffer!, stopping).ConfigureAwait(false);
        }
        finally
        {
            await CloseAsync().ConfigureAwait(false);
            if (buffer is not null) ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task ReceiveLoopAsync(Socket socket, byte[] buffer, CancellationToken stopping)
    {
        var memory = buffer.AsMemory(0, _maxDatagramSize + 1);
        // Reused for every receive: filled in by the socket and used as the lookup key of the peer table.
        var from = new SocketAddress(socket.AddressFamily);
        while (!stopping.IsCancellationRequested)
        {
            int received;
            try
            {
                received = await socket.ReceiveFromAsync(memory, SocketFlags.None, from, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.MessageSize)
            {
                // Windows reports a datagram cut to the buffer as an error; Linux returns it cut, seen below as oversize.
                Endpoint.Counters.OnReceived(memory.Length);
                var count = Endpoint.Counters.OnTruncated();
                UdpLog.DatagramDropped(_logger, Endpoint.Name, "(unknown)", "truncated", count);
                continue;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset
                or SocketError.HostUnreachable or SocketError.NetworkUnreachable)
            {
                // An ICMP error about an earlier send to a peer that has gone: news about that peer, not about this socket.
                UdpLog.PeerUnreachable(_logger, Endpoint.Name, ex.SocketErrorCode.ToString());
                continue;
            }
            catch (SocketException ex)
            {
                if (stopping.IsCancellationRequested) return;
                UdpLog.ReceiveFailed(_logger, Endpoint.Name, ex);
                await BackOffAsync(stopping).ConfigureAwait(false);
                continue;
            }

            Receive(buffer.AsSpan(0, received), from);
        }
    }

    void IDatagramReceiver.OnDatagrams(in DatagramBatch batch)
    {
        using (DeliveryBatch.Begin())
        {
            for (var i = 0; i < batch.Count; i++)
                Receive(batch[i], batch.From);
        }
    }

    void IDatagramReceiver.OnPeerUnreachable(string error) => UdpLog.PeerUnreachable(_logger, Endpoint.Name, error);

    void IDatagramReceiver.OnReceiveFailed(Exception error) => UdpLog.ReceiveFailed(_logger, Endpoint.Name, error);

    private void Receive(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
        try
        {
            OnDatagram(datagram, from);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug in handling one datagram must not end the endpoint.
            UdpLog.ReceiveFailed(_logger, Endpoint.Name, ex);
        }
    }

    private void OnDatagram(ReadOnlySpan<byte> datagram, SocketAddress from)
    {
        var counters = Endpoint.Counters;
        counters.OnReceived(datagram.Length);
        if (datagram.Length > _maxDatagramSize)
        {
            var count = counters.OnOversize();
            if (_logger.IsEnabled(LogLevel.Debug)) UdpLog.DatagramDropped(_logger, Endpoint.Name, Describe(from), "oversize", count);
            return;
        }

        var peer = Endpoint.Peers.Touch(from) ?? Track(from);
        if (peer is null) return;
        if (!peer.TryAccept(datagram.Length))
        {
            var count = counters.OnRateLimited();
            if (_logger.IsEnabled(LogLevel.Debug)) UdpLog.DatagramDropped(_logger, Endpoint.Name, peer.Session.RemoteAddress, "rate limited", count);
            return;
        }

        var session = peer.Session;
        if (session.PublishTopic is not { } topic) return;
        if (!session.PublishPermitted)
        {
            session.Access.OnPublishDenied(topic);
            return;
        }

        // The one copy out of the receive buffer, which the next datagram overwrites.
        _bus.Publish(new Message(topic, datagram.ToArray(), session.Source, DateTimeOffset.UtcNow));
    }

    /// <summary>Starts tracking a new sender; displaces the least recently heard peer when MaxPeers are tracked.</summary>
    private UdpPeer? Track(SocketAddress from)
    {
        // The receive loop reuses 'from'; the table keeps a copy.
        var address = new SocketAddress(from.Family, from.Size);
        from.Buffer.Span[..from.Size].CopyTo(address.Buffer.Span);
        var remote = ToDisplayEndPoint(address);
        // While the process is overloaded no new sender is taken on; those already tracked carry on.
        if (_overload.Refuses(Endpoint.Name, "a new sender", remote)) return null;
        if (Endpoint.Admission.Limits && Endpoint.Admission.TryAdmit(remote.Address) is { } refusal)
        {
            var refused = _rejections.Count(Endpoint.Name, refusal);
            if (_logger.IsEnabled(LogLevel.Debug)) UdpLog.SenderRefused(_logger, Endpoint.Name, remote.ToString(), refusal, refused);
            return null;
        }

        UdpPeer peer;
        try
        {
            peer = new UdpPeer(this, address, remote, _sessions, _logger);
        }
        catch (TopicException ex)
        {
            Endpoint.Admission.Release(remote.Address);
            var count = Endpoint.Counters.OnUnroutable();
            UdpLog.PeerRejected(_logger, Endpoint.Name, remote.ToString(), ex.Message, count);
            return null;
        }

        if (Endpoint.Peers.Add(peer) is { } displaced)
        {
            _displaced.Increment();
            displaced.Close(_displacedReason);
        }

        peer.Open();
        return peer;
    }

    /// <summary>Called once by <see cref="UdpPeer.Close"/>: the peer leaves the table and its session ends (what is queued still goes).</summary>
    internal void Forget(UdpPeer peer)
    {
        Endpoint.Peers.Remove(peer);
        Endpoint.Admission.Release(peer.IPAddress);
        peer.Session.End();
    }

    private async Task CloseAsync()
    {
        var pending = new List<Task>();
        foreach (var peer in Endpoint.Peers.Snapshot())
        {
            peer.Close("server shutting down");
            pending.Add(peer.Delivered);
        }

        try
        {
            // Let what is queued go out, for DrainTimeout at most; what remains is counted as unsendable.
            await Task.WhenAll(pending).WaitAsync(Endpoint.Options.DrainTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        var counters = Endpoint.Counters;
        UdpLog.EndpointClosed(_logger, Endpoint.Name, Endpoint.BoundEndPoint?.ToString() ?? Endpoint.Address,
            counters.DatagramsIn, counters.BytesIn, counters.DatagramsOut, counters.BytesOut,
            counters.DroppedOversize, counters.DroppedTruncated, counters.DroppedRateLimited, counters.DroppedUnsendable, counters.DroppedUnroutable);
        Dispose();
    }

    /// <summary>Closes the socket; used directly when the start fails after this endpoint was bound.</summary>
    public void Dispose()
    {
        Batched?.Dispose();
        _socket?.Dispose();
    }

    /// <summary>The sender as users read it: an IPv4 sender on a dual-mode socket is shown as IPv4, not as ::ffff:a.b.c.d.</summary>
    private IPEndPoint ToDisplayEndPoint(SocketAddress address)
    {
        var endPoint = (IPEndPoint)_addressTemplate.Create(address);
        return endPoint.Address.IsIPv4MappedToIPv6 ? new IPEndPoint(endPoint.Address.MapToIPv4(), endPoint.Port) : endPoint;
    }

    private string Describe(SocketAddress address) => ToDisplayEndPoint(address).ToString();

    private static async Task BackOffAsync(CancellationToken stopping)
    {
        try
        {
            await Task.Delay(ErrorBackoff, stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
