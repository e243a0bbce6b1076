using System.Net;
using System.Net.Sockets;

namespace Gateway.Configuration;

/// <summary>The address forms a listener accepts: an IP literal, "localhost" or "*".</summary>
internal static class ListenAddress
{
    public const string Localhost = "localhost";
    public const string Any = "*";

    public static bool IsValid(string address) =>
        address is Localhost or Any || IPAddress.TryParse(address, out _);

    /// <summary>
    /// The one address a datagram socket binds: a UDP endpoint is a single socket, so "localhost" means
    /// 127.0.0.1 and "*" the IPv6 any address in dual mode (IPv4's any address where IPv6 is unavailable).
    /// </summary>
    public static IPAddress ResolveSingle(string address) => address switch
    {
        Localhost => IPAddress.Loopback,
        Any => Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any,
        _ => IPAddress.Parse(address),
    };
}
