using System.Net;

namespace Gateway.Udp;

/// <summary>
/// The peers of one endpoint by source address, in the order they were last heard from, so the least
/// recently heard is the one a new peer displaces when the table is full.
/// </summary>
/// <remarks>
/// The receive loop looks up and reorders on every datagram; the heartbeat and the admin API remove. One
/// lock guards both structures; each peer carries its own list node, so reordering allocates nothing.
/// </remarks>
internal sealed class UdpPeerTable(int capacity)
{
    private readonly Dictionary<SocketAddress, UdpPeer> _byAddress = [];
    private readonly LinkedList<UdpPeer> _byRecency = []; // first: least recently heard
    private readonly Lock _lock = new();

    public int Capacity => capacity;

    public int Count
    {
        get { lock (_lock) return _byAddress.Count; }
    }

    /// <summary>Finds the peer sending from <paramref name="address"/> and marks it the most recently heard.</summary>
    public UdpPeer? Touch(SocketAddress address)
    {
        lock (_lock)
        {
            if (!_byAddress.TryGetValue(address, out var peer)) return null;
            var node = peer.RecencyNode;
            if (node.Next is not null)
            {
                _byRecency.Remove(node);
                _byRecency.AddLast(node);
            }

            return peer;
        }
    }

    /// <summary>Adds a new peer. Returns the least recently heard peer it displaced when the table was full; the caller closes it.</summary>
    public UdpPeer? Add(UdpPeer peer)
    {
        lock (_lock)
        {
            UdpPeer? displaced = null;
            if (_byAddress.Count >= capacity && _byRecency.First is { } oldest)
            {
                displaced = oldest.Value;
                RemoveCore(displaced);
            }

            _byAddress.Add(peer.Address, peer);
            _byRecency.AddLast(peer.RecencyNode);
            return displaced;
        }
    }

    /// <summary>Removes the peer if it is still the one tracked for its address.</summary>
    public bool Remove(UdpPeer peer)
    {
        lock (_lock)
        {
            if (!_byAddress.TryGetValue(peer.Address, out var current) || current != peer) return false;
            RemoveCore(peer);
            return true;
        }
    }

    public UdpPeer[] Snapshot()
    {
        lock (_lock) return [.. _byAddress.Values];
    }

    private void RemoveCore(UdpPeer peer)
    {
        _byAddress.Remove(peer.Address);
        _byRecency.Remove(peer.RecencyNode);
    }
}
