using System.Net;
using Gateway.Configuration;
using Gateway.Connections;

namespace Gateway.Udp;

/// <summary>A configured UDP endpoint: its templates parsed once at start, then its bound address, peers and counters.</summary>
internal sealed class UdpEndpoint : IEndpointDescription
{
    public UdpEndpoint(string name, EndpointOptions options, string defaultAddress)
    {
        Name = name;
        Options = options;
        Address = options.Address ?? defaultAddress;
        Topics = new EndpointTopics(options.Publish, options.Subscribe);
        Peers = new UdpPeerTable(options.Udp.MaxPeers);
        Admission = new ConnectionAdmission(options.Limits);
    }

    /// <summary>The message and byte rates of each peer (<c>Limits</c>); null when none is set.</summary>
    public EndpointRateLimits? RateLimits { get; init; }

    /// <summary>New peers per second and peers per source address (<c>Limits:ConnectionsPerSecond</c>, <c>MaxConnectionsPerAddress</c>).</summary>
    public ConnectionAdmission Admission { get; }

    /// <summary>The protocol name the admin API, connections and metrics give UDP endpoints.</summary>
    public const string ProtocolName = "udp";

    public string Name { get; }

    public EndpointOptions Options { get; }

    /// <summary>The configured address form: an IP, "localhost" or "*".</summary>
    public string Address { get; }

    public EndpointTopics Topics { get; }

    /// <summary>The peers that have sent recently, which receive the endpoint's deliveries.</summary>
    public UdpPeerTable Peers { get; }

    public UdpEndpointCounters Counters { get; } = new();

    /// <summary>Where the socket is bound; after start this holds the real port when 0 was configured.</summary>
    public IPEndPoint? BoundEndPoint { get; internal set; }

    string IEndpointDescription.Protocol => ProtocolName;

    EndPoint? IEndpointDescription.BoundEndPoint => BoundEndPoint;

    string? IEndpointDescription.Publish => Options.Publish;

    IReadOnlyList<string> IEndpointDescription.Subscribe => Options.Subscribe;

    string IEndpointDescription.Details => "deliveries to recent peers";

    bool IEndpointDescription.Tls => false;

    long? IEndpointDescription.FailedTlsHandshakes => null;

    long? IEndpointDescription.FramingErrors => null;

    string IEndpointDescription.TrafficUnit => "datagram";

    /// <summary>Every datagram read, dropped or not, and every datagram sent to a peer.</summary>
    EndpointTraffic? IEndpointDescription.Traffic => new(Counters.BytesIn, Counters.BytesOut, Counters.DatagramsIn, Counters.DatagramsOut);

    IEnumerable<(string Reason, long Count)> IEndpointDescription.Drops =>
    [
        ("oversize", Counters.DroppedOversize),
        ("truncated", Counters.DroppedTruncated),
        ("rate_limited", Counters.DroppedRateLimited),
        ("unroutable", Counters.DroppedUnroutable),
        ("unsendable", Counters.DroppedUnsendable),
    ];
}
