using System.Net;
using System.Net.Sockets;

namespace Gateway.Configuration;

/// <summary>
/// When the start fails because an address is in use, finds which configured stream listeners another process
/// holds, by binding each again, and names them by their settings:
/// <c>Gateway:Endpoints:echo:Port (9000) is already in use on 127.0.0.1 (TCP)</c>. Kestrel stops at the first
/// listener it cannot bind and names it by a URL (<c>http://127.0.0.1:9000</c>, even for a raw TCP endpoint); by the
/// time this runs it has closed the listeners it did bind, so only another process's show up.
/// UDP endpoints report their own (<see cref="Udp.UdpListener"/>).
/// </summary>
internal static class PortConflicts
{
    public static string Describe(GatewayOptions options)
    {
        var conflicts = Find(options);
        if (conflicts.Count == 0)
            return "An address the gateway listens on was already in use, but each is free now: another process may have held it for a moment. " +
                $"Start again, or check the ports of {GatewayOptions.SectionName}:Http, {GatewayOptions.SectionName}:Https and {GatewayOptions.SectionName}:Endpoints.";
        return "Addresses already in use:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", conflicts);
    }

    /// <summary>One line per listener setting that cannot be bound now.</summary>
    public static List<string> Find(GatewayOptions options)
    {
        const string root = GatewayOptions.SectionName;
        var conflicts = new List<string>();
        CheckPort($"{root}:Http:Port", options.Http.Address ?? options.DefaultAddress, options.Http.Port, conflicts);
        if (options.Https.IsEnabled)
            CheckPort($"{root}:Https:Port", options.Https.Address ?? options.DefaultAddress, options.Https.Port, conflicts);

        foreach (var (name, endpoint) in options.Endpoints)
        {
            if (!endpoint.Enabled || endpoint.Protocol != EndpointProtocol.Tcp) continue;
            if (endpoint.UnixSocketPath is { Length: > 0 } path)
            {
                if (IsUnixSocketServed(path))
                    conflicts.Add($"{root}:Endpoints:{name}:UnixSocketPath ({path}) is already in use: another process accepts connections on it (Unix socket)");
            }
            else if (endpoint.Port is { } port)
            {
                CheckPort($"{root}:Endpoints:{name}:Port", endpoint.Address ?? options.DefaultAddress, port, conflicts);
            }
        }

        return conflicts;
    }

    private static void CheckPort(string setting, string address, int port, List<string> conflicts)
    {
        if (port == 0 || !ListenAddress.IsValid(address)) return;
        var taken = AddressesOf(address).Where(ip => IsTaken(ip, port)).ToList();
        if (taken.Count == 0) return;
        var where = address == ListenAddress.Any ? "every address (*)" : string.Join(" and ", taken);
        conflicts.Add($"{setting} ({port}) is already in use on {where} (TCP)");
    }

    /// <summary>The addresses a listener binds, as <see cref="ListenAddress"/> reads the setting: "localhost" is both loopbacks, "*" one dual-mode socket.</summary>
    private static IPAddress[] AddressesOf(string address) => address switch
    {
        ListenAddress.Localhost => Socket.OSSupportsIPv6 ? [IPAddress.Loopback, IPAddress.IPv6Loopback] : [IPAddress.Loopback],
        ListenAddress.Any => [Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any],
        _ => [IPAddress.Parse(address)],
    };

    /// <summary>Binds and listens as Kestrel does (the runtime sets SO_REUSEADDR on Unix), then lets go.</summary>
    private static bool IsTaken(IPAddress address, int port)
    {
        using var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Equals(IPAddress.IPv6Any)) socket.DualMode = true;
            socket.Bind(new IPEndPoint(address, port));
            socket.Listen();
            return false;
        }
        catch (SocketException ex)
        {
            // Anything else (no IPv6 loopback on this host) is not a conflict.
            return ex.SocketErrorCode == SocketError.AddressAlreadyInUse;
        }
    }

    /// <summary>
    /// A socket file left by the failed start itself, or by a dead process, accepts nothing; one that another
    /// gateway serves accepts the connection.
    /// </summary>
    private static bool IsUnixSocketServed(string path)
    {
        if (!File.Exists(path)) return false;
        using var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
