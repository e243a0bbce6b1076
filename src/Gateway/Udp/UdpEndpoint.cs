using System.Net;
using Gateway.Configuration;
using Gateway.Connections;

namespace Gateway.Udp;

/// <summary>A configured UDP endpoint: its templates and target parsed once at start, then its bound address, peers and counters.</summary>
internal sealed class UdpEndpoint
{
    public UdpEndpoint(string name, EndpointOptions options, string defaultAddress)
    {
        Name = name;
        Options = options;
        Address = options.Address ?? defaultAddress;
        Topics = new EndpointTopics(options.Publish, options.Subscribe);
        Target = UdpTargetAddress.TryParse(options.Udp.Target, out var target) ? target : null;
        Peers = new UdpPeerTable(options.Udp.MaxPeers);
    }

    /// <summary>The protocol name the admin API, connections and metrics give UDP endpoints.</summary>
    public const string Protocol = "udp";

    public string Name { get; }

    public EndpointOptions Options { get; }

    /// <summary>The configured address form: an IP, "localhost" or "*".</summary>
    public string Address { get; }

    public EndpointTopics Topics { get; }

    /// <summary>The fixed destination of every delivery, when <see cref="UdpEndpointOptions.Target"/> is set.</summary>
    public IPEndPoint? Target { get; }

    /// <summary>The peers that have sent recently, which receive the endpoint's deliveries when there is no target.</summary>
    public UdpPeerTable Peers { get; }

    public UdpEndpointCounters Counters { get; } = new();

    /// <summary>Where the socket is bound; after start this holds the real port when 0 was configured.</summary>
    public IPEndPoint? BoundEndPoint { get; internal set; }
}
