using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Transport;

/// <summary>
/// Adds Kestrel listeners served by the configured transport: the gateway's epoll transport through
/// <see cref="EpollEndPoint"/> (the only endpoint type it binds), or Kestrel's socket transport. Every listener of the
/// gateway (the framed endpoints and the HTTP host's ports) is added here, so the choice is made in one place.
/// </summary>
internal static class TransportListeners
{
    /// <summary>
    /// Listens on an address setting: "localhost" binds both loopback families and "*" every interface, falling back
    /// to IPv4 where IPv6 is unavailable (as in some containers), as Kestrel's own helpers do.
    /// </summary>
    public static void Listen(KestrelServerOptions kestrel, string address, int port, TransportKind transport, Action<ListenOptions> configure)
    {
        if (transport == TransportKind.Epoll)
        {
            foreach (var endPoint in EpollEndPoint.ForAddress(address, port))
                kestrel.Listen(endPoint, configure);
            return;
        }

        switch (address)
        {
            case ListenAddress.Localhost: kestrel.ListenLocalhost(port, configure); break;
            case ListenAddress.Any: kestrel.ListenAnyIP(port, configure); break;
            default: kestrel.Listen(IPAddress.Parse(address), port, configure); break;
        }
    }

    /// <summary>Listens on a Unix domain socket at <paramref name="path"/>.</summary>
    public static void ListenUnixSocket(KestrelServerOptions kestrel, string path, TransportKind transport, Action<ListenOptions> configure)
    {
        if (transport == TransportKind.Epoll) kestrel.Listen(new EpollEndPoint(new UnixDomainSocketEndPoint(path)), configure);
        else kestrel.ListenUnixSocket(path, configure);
    }
}
