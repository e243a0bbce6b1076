using System.Collections.Concurrent;

namespace Gateway.Connections;

/// <summary>Every live connection of every protocol, by id.</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, IGatewayConnection> _connections = new(StringComparer.Ordinal);

    private volatile bool _stopping;

    public int Count => _connections.Count;

    public void Add(IGatewayConnection connection)
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

    public void Remove(IGatewayConnection connection) => _connections.TryRemove(new KeyValuePair<string, IGatewayConnection>(connection.Id, connection));

    public bool TryGet(string id, out IGatewayConnection? connection) => _connections.TryGetValue(id, out connection);

    /// <summary>A moment's view; connections may open or close while it is enumerated.</summary>
    public IEnumerable<IGatewayConnection> All => _connections.Values;
}
