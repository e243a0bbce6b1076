namespace Gateway.Configuration;

/// <summary>Settings that apply to UDP endpoints only (the <c>Udp</c> section of an endpoint).</summary>
public sealed class UdpEndpointOptions
{
    /// <summary>Largest datagram accepted or sent, in bytes. Defaults to 65,507 (the IPv4 maximum).</summary>
    public int MaxDatagramSize { get; set; } = 65_507;

    /// <summary>A peer that has sent nothing for this long stops receiving deliveries. Defaults to 60 seconds.</summary>
    public TimeSpan PeerIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How many recent peers are tracked for deliveries; the least recently heard is forgotten first. Defaults to 10,000.</summary>
    public int MaxPeers { get; set; } = 10_000;

    /// <summary>Datagrams per second accepted from one source address; unset means no limit.</summary>
    public int? RateLimitPerSecond { get; set; }

    /// <summary>Datagrams one source may send in a burst above <see cref="RateLimitPerSecond"/>. Defaults to the per-second rate.</summary>
    public int? RateLimitBurst { get; set; }

    /// <summary>
    /// When set ("host:port"), deliveries go to this fixed address instead of to the peers that have sent
    /// recently: a route from topics to a UDP target.
    /// </summary>
    public string? Target { get; set; }
}
