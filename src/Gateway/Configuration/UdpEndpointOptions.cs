namespace Gateway.Configuration;

/// <summary>Settings that apply to UDP endpoints only (the <c>Udp</c> section of an endpoint).</summary>
[RetiredSetting("RateLimitPerSecond", "moved to the endpoint's Limits, which every protocol shares: set Gateway:Endpoints:{name}:Limits:MessagesPerSecond instead")]
[RetiredSetting("RateLimitBurst", "moved to the endpoint's Limits, which every protocol shares: set Gateway:Endpoints:{name}:Limits:MessageBurst instead")]
[RetiredSetting("Target", "was replaced by routes: add Gateway:Routes:{name} with To:Kind Udp and To:Address set to the target, and From set to the topics the endpoint subscribed to")]
public sealed class UdpEndpointOptions
{
    /// <summary>The largest payload one UDP datagram over IPv4 can carry.</summary>
    public const int MaxPossibleDatagramSize = 65_507;

    /// <summary>Largest datagram accepted or sent, in bytes. Defaults to 65,507 (the IPv4 maximum).</summary>
    public int MaxDatagramSize { get; set; } = MaxPossibleDatagramSize;

    /// <summary>A peer that has sent nothing for this long stops receiving deliveries. Defaults to 60 seconds.</summary>
    public TimeSpan PeerIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How many recent peers are tracked for deliveries; the least recently heard is forgotten first. Defaults to 10,000.</summary>
    public int MaxPeers { get; set; } = 10_000;

    /// <summary>
    /// Kernel receive buffer of the socket, in bytes: what absorbs a burst, or a pause of the gateway, before datagrams
    /// are dropped. Defaults to 4 MiB; Linux caps it at net.core.rmem_max (twice that, as it counts its overhead).
    /// </summary>
    public int ReceiveBufferSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Kernel send buffer of the socket, in bytes. Defaults to 4 MiB; Linux caps it at net.core.wmem_max.</summary>
    public int SendBufferSize { get; set; } = 4 * 1024 * 1024;
}
