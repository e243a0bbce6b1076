using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;

namespace Gateway.Transport;

/// <summary>
/// An address that a listener (a framed endpoint or the HTTP host) binds through the epoll transport. Kestrel asks
/// each transport whether it can bind an endpoint; only <see cref="EpollTransportFactory"/> takes this type, so plain
/// addresses stay on Kestrel's socket transport.
/// </summary>
/// <param name="candidates">Tried in order, the first that binds wins: "*" is IPv6's any address in dual mode, then IPv4's.</param>
/// <param name="optional">When no candidate binds for a reason other than "in use", log it and listen on nothing (IPv6 loopback on a host without IPv6), as Kestrel's "localhost" does.</param>
internal sealed class EpollEndPoint(IReadOnlyList<EndPoint> candidates, bool optional = false) : EndPoint
{
    public EpollEndPoint(EndPoint endPoint)
        : this([endPoint])
    {
    }

    /// <summary>
    /// The listeners an address setting means, as Kestrel's own helpers read it: "localhost" is IPv4's loopback
    /// and, where available, IPv6's; "*" is every interface, through IPv6 in dual mode where IPv6 exists.
    /// </summary>
    public static IEnumerable<EpollEndPoint> ForAddress(string address, int port) => address switch
    {
        ListenAddress.Localhost =>
        [
            new EpollEndPoint(new IPEndPoint(IPAddress.Loopback, port)),
            new EpollEndPoint([new IPEndPoint(IPAddress.IPv6Loopback, port)], optional: true),
        ],
        ListenAddress.Any => [new EpollEndPoint([new IPEndPoint(IPAddress.IPv6Any, port), new IPEndPoint(IPAddress.Any, port)])],
        _ => [new EpollEndPoint(new IPEndPoint(IPAddress.Parse(address), port))],
    };

    public IReadOnlyList<EndPoint> Candidates { get; } = candidates;

    public bool Optional { get; } = optional;

    public override AddressFamily AddressFamily => Candidates[0].AddressFamily;

    // Kestrel names the endpoint with this in its errors, e.g. "Failed to bind to address 127.0.0.1:9000: address already in use."
    public override string ToString() => Candidates[0] is UnixDomainSocketEndPoint unix ? $"unix:{unix}" : Candidates[0].ToString()!;
}
