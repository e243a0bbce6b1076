using System.Collections.Concurrent;

namespace Gateway.Connections;

/// <summary>Every live connection of every protocol, by id, and the traffic of those that have closed, by endpoint.</summary>
internal sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, ConnectionSession> _connections = new(StringComparer.Ordinal);

    // Guards the closed connections' totals, so a snapshot never sees a connection both gone and not yet added to them.
    private readonly Lock _closedGate = new();
    private readonly Dictionary<string, EndpointActivity> _closed = new(StringComparer.Ordinal);

    private volatile bool _stopping;

    public int Count => _connections.Count;

    public void Add(ConnectionSession connection)
    {
        _connections[connection.Id] = connection;
        // Opened while the server was already stopping: it drains like the others.
        if (_stopping) connection.OnServerStopping();
    }

    /// <summary>The server has begun to stop: tells every connection, now and as they are added; returns how many there were.</summary>
    public int BeginShutdown()
    {
        _stopping = true;
        var open = _connections.Values.ToList();
        foreach (var connection in open)
            connection.OnServerStopping();
        return open.Count;
    }

    /// <summary>Forgets a connection that has closed; its traffic stays in its endpoint's totals.</summary>
    public void Remove(ConnectionSession connection)
    {
        lock (_closedGate)
        {
            if (!_connections.TryRemove(new KeyValuePair<string, ConnectionSession>(connection.Id, connection))) return;
            _closed[connection.Endpoint] = _closed.GetValueOrDefault(connection.Endpoint).Add(connection.Traffic, open: 0);
        }
    }

    /// <summary>Counts what arrived by an exchange that is no connection of its own (an HTTP publish) into its endpoint's totals.</summary>
    public void AddReceived(string endpoint, long bytes, long frames)
    {
        lock (_closedGate)
        {
            var totals = _closed.GetValueOrDefault(endpoint);
            _closed[endpoint] = totals with { BytesIn = totals.BytesIn + bytes, FramesIn = totals.FramesIn + frames };
        }
    }

    /// <summary>
    /// Each endpoint's (by name) open connections and the traffic of all its connections since start, open and closed. Every
    /// traffic total only grows from one snapshot to the next, as the metrics' counters must.
    /// </summary>
    public Dictionary<string, EndpointActivity> Snapshot()
    {
        lock (_closedGate)
        {
            var activity = new Dictionary<string, EndpointActivity>(_closed, StringComparer.Ordinal);
            foreach (var connection in _connections.Values)
                activity[connection.Endpoint] = activity.GetValueOrDefault(connection.Endpoint).Add(connection.Traffic, open: 1);

            return activity;
        }
    }

    public bool TryGet(string id, out ConnectionSession? connection) => _connections.TryGetValue(id, out connection);

    /// <summary>A moment's view; connections may open or close while it is enumerated.</summary>
    public IEnumerable<ConnectionSession> All => _connections.Values;
}

/// <summary>One endpoint's open connections, and the traffic its connections have carried.</summary>
internal readonly record struct EndpointActivity(int OpenConnections, long BytesIn, long BytesOut, long FramesIn, long FramesOut)
{
    public EndpointActivity Add(ConnectionTraffic traffic, int open) =>
        new(OpenConnections + open, BytesIn + traffic.BytesIn, BytesOut + traffic.BytesOut, FramesIn + traffic.FramesIn, FramesOut + traffic.FramesOut);
}
