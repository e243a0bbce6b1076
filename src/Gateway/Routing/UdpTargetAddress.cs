using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;

namespace Gateway.Routing;

/// <summary>
/// Parses the address of a UDP route's upstream (<see cref="UpstreamOptions.Address"/>): "1.2.3.4:5000", "[::1]:5000" or
/// "localhost:5000". No name resolution: the route's socket is connected once, at start, and must not depend on DNS.
/// </summary>
internal static class UdpTargetAddress
{
    public static bool TryParse(string? value, [NotNullWhen(true)] out IPEndPoint? target)
    {
        target = null;
        if (string.IsNullOrEmpty(value)) return false;
        var colon = value.LastIndexOf(':');
        if (colon <= 0
            || !int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535)
            return false;

        var host = value.AsSpan(0, colon);
        IPAddress? address;
        if (host.Equals(ListenAddress.Localhost, StringComparison.OrdinalIgnoreCase))
            address = IPAddress.Loopback;
        else if (host is ['[', .. var inner, ']'])
            address = IPAddress.TryParse(inner, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6 ? v6 : null;
        else
            address = IPAddress.TryParse(host, out var v4) && v4.AddressFamily == AddressFamily.InterNetwork ? v4 : null;

        if (address is null) return false;
        target = new IPEndPoint(address, port);
        return true;
    }
}
