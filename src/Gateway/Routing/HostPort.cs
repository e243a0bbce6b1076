using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Gateway.Routing;

/// <summary>
/// A TCP destination of a route or a tunnel, "host:port": an IPv4 address, an [IPv6 address] in brackets, or a host name, and a port from 1
/// to 65535. Host names are kept as written and resolved only when connecting.
/// </summary>
internal readonly record struct HostPort(string Host, int Port)
{
    /// <summary>The host as a socket takes it: an IPv6 address without its brackets.</summary>
    public string SocketHost => Host is ['[', .. var inner, ']'] ? inner : Host;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Host}:{Port}");

    /// <summary>Whether both name the same destination as written: the host without regard to case, the port exactly.</summary>
    public bool Matches(HostPort other) => Port == other.Port && string.Equals(Host, other.Host, StringComparison.OrdinalIgnoreCase);

    public static bool TryParse(string? value, [NotNullWhen(true)] out HostPort? address)
    {
        address = null;
        if (string.IsNullOrEmpty(value)) return false;
        var colon = value.LastIndexOf(':');
        if (colon <= 0
            || !int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535)
            return false;

        var host = value[..colon];
        if (host is ['[', .. var inner, ']'])
        {
            if (!IPAddress.TryParse(inner, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6) return false;
        }
        else if (Uri.CheckHostName(host) is not (UriHostNameType.Dns or UriHostNameType.IPv4))
        {
            return false;
        }

        address = new HostPort(host, port);
        return true;
    }

    /// <summary>
    /// Parses "1.2.3.4:5000", "[::1]:5000" or "localhost:5000" as an address to send datagrams to: an IP literal or
    /// localhost, never a name to resolve, since a UDP route's socket is connected once, at start.
    /// </summary>
    public static bool TryParseIPEndPoint(string? value, [NotNullWhen(true)] out IPEndPoint? target)
    {
        target = null;
        if (!TryParse(value, out var parsed)) return false;
        var (host, port) = (parsed.Value.Host, parsed.Value.Port);
        IPAddress? address;
        if (host.Equals(Configuration.ListenAddress.Localhost, StringComparison.OrdinalIgnoreCase))
            address = IPAddress.Loopback;
        else if (host is ['[', .. var inner, ']'])
            address = IPAddress.TryParse(inner, out var v6) ? v6 : null;
        else
            address = IPAddress.TryParse(host, out var v4) && v4.AddressFamily == AddressFamily.InterNetwork ? v4 : null;

        if (address is null) return false;
        target = new IPEndPoint(address, port);
        return true;
    }
}
