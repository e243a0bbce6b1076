using System.Collections.Concurrent;

namespace Gateway.Connections;

/// <summary>Every live connection of every protocol, by id.</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, IGatewayConnection> _connections = new(StringComparer.Ordinal);

    public int Count => _connections.Count;

    public void Add(IGatewayConnection connection) => _connections[connection.Id] = connection;

    public void Remove(IGatewayConnection connection) => _connections.TryRemove(new KeyValuePair<string, IGatewayConnection>(connection.Id, connection));

    public bool TryGet(string id, out IGatewayConnection? connection) => _connections.TryGetValue(id, out connection);

    /// <summary>A moment's view; connections may open or close while it is enumerated.</summary>
    public IEnumerable<IGatewayConnection> All => _connections.Values;
}
