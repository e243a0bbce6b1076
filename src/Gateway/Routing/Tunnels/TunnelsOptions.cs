namespace Gateway.Routing.Tunnels;

/// <summary>
/// Tunnels that carry bytes to allow-listed TCP destinations (<c>Gateway:Tunnels</c>): HTTP <c>CONNECT</c> on the HTTP
/// host's ports, and WebSocket-to-TCP bridges at <c>/tunnel/{name}</c>. Both are off until configured.
/// </summary>
/// <remarks>
/// JSON shape:
/// <code>
/// "Tunnels": {
///   "Connect": { "Allow": [ "127.0.0.1:22", "db.internal:5432" ] },
///   "Bridges": { "ssh": { "Target": "127.0.0.1:22" } },
///   "ConnectTimeout": "00:00:10"
/// }
/// </code>
/// </remarks>
public sealed class TunnelsOptions
{
    /// <summary>HTTP <c>CONNECT host:port</c>; off while its allow-list is empty.</summary>
    public ConnectTunnelOptions Connect { get; set; } = new();

    /// <summary>WebSocket-to-TCP bridges by name: <c>/tunnel/{name}</c> connects each WebSocket to that name's target.</summary>
    public Dictionary<string, BridgeOptions> Bridges { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>How long connecting to a destination may take before the tunnel is refused. Defaults to 10 seconds.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>HTTP <c>CONNECT</c> on the HTTP host's ports (<c>Gateway:Tunnels:Connect</c>).</summary>
public sealed class ConnectTunnelOptions
{
    /// <summary>
    /// The only destinations a <c>CONNECT</c> may reach, each "host:port" ("127.0.0.1:22", "[::1]:22", "db.internal:5432").
    /// A request names its destination exactly as listed (host names compared without regard to case); a host name is
    /// resolved when connecting. Empty, the default: <c>CONNECT</c> is off and answered 405.
    /// </summary>
    public List<string> Allow { get; set; } = [];
}

/// <summary>One WebSocket-to-TCP bridge (<c>Gateway:Tunnels:Bridges:{name}</c>).</summary>
public sealed class BridgeOptions
{
    /// <summary>The TCP destination, "host:port", every WebSocket of this bridge is connected to. Required.</summary>
    public string? Target { get; set; }
}
