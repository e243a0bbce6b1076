using System.Net;
using System.Net.Sockets;
using Gateway.Tcp.Epoll;
using Microsoft.AspNetCore.Server.Kestrel.Core;

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

    /// <summary>
    /// Adds a Kestrel listener. "localhost" binds both loopback families and "*" every interface,
    /// through Kestrel's own helpers, which fall back to IPv4 where IPv6 is unavailable (as in some containers).
    /// </summary>
    public static void Listen(KestrelServerOptions kestrel, string address, int port, Action<ListenOptions>? configure = null)
    {
        configure ??= static _ => { };
        switch (address)
        {
            case Localhost: kestrel.ListenLocalhost(port, configure); break;
            case Any: kestrel.ListenAnyIP(port, configure); break;
            default: kestrel.Listen(IPAddress.Parse(address), port, configure); break;
        }
    }

    /// <summary>
    /// Adds a Kestrel listener served by the given transport: the gateway's epoll transport through
    /// <see cref="EpollEndPoint"/> (the only endpoint type it binds), or Kestrel's socket transport.
    /// </summary>
    public static void Listen(KestrelServerOptions kestrel, string address, int port, TransportKind transport, Action<ListenOptions> configure)
    {
        if (transport != TransportKind.Epoll)
        {
            Listen(kestrel, address, port, configure);
            return;
        }

        foreach (var endPoint in EpollEndPoint.ForAddress(address, port))
            kestrel.Listen(endPoint, configure);
    }
}
