namespace Gateway.Connections;

/// <summary>One live peer on any protocol, as the registry, the admin API and the metrics see it.</summary>
public interface IGatewayConnection
{
    string Id { get; }

    string Endpoint { get; }

    string Protocol { get; }

    /// <summary>"address:port", or the socket path for a Unix socket peer.</summary>
    string RemoteAddress { get; }

    /// <summary>The authenticated identity, once security exists; null for anonymous peers.</summary>
    string? Identity { get; }

    DateTimeOffset ConnectedAt { get; }

    ConnectionTraffic Traffic { get; }

    /// <summary>Asks the connection to close: it stops reading, flushes what it has queued, then closes.</summary>
    void Close(string reason);

    /// <summary>
    /// The server has begun to stop: close gracefully, as <see cref="Close"/> does. Does nothing by default, for the
    /// connections whose listener closes them itself (Kestrel asks each TCP connection; the UDP service forgets its
    /// peers once their last datagrams are out).
    /// </summary>
    void OnServerStopping()
    {
    }

    /// <summary>Called about once a second by <see cref="ConnectionHeartbeat"/>, so each connection can enforce its own timeouts without a timer of its own.</summary>
    void OnHeartbeat(long nowMilliseconds);
}

/// <summary>Traffic counters of one connection. Each side is written by one loop only, so plain increments suffice.</summary>
public sealed class ConnectionTraffic
{
    public long BytesIn;
    public long BytesOut;
    public long FramesIn;
    public long FramesOut;
}
