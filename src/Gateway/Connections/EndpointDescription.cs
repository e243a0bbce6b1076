using System.Net;

namespace Gateway.Connections;

/// <summary>
/// One endpoint as the admin API, the metrics, readiness and the start-up log see it. Each capability describes its own
/// endpoints (<see cref="IEndpointCatalog"/>), so none of those readers names a protocol.
/// </summary>
internal interface IEndpointDescription
{
    /// <summary>The name configuration, log lines, metrics and message sources give it.</summary>
    string Name { get; }

    /// <summary>The protocol its connections speak, as the admin API, connections and metrics name it.</summary>
    string Protocol { get; }

    /// <summary>Where it listens once bound (the real port when 0 was configured); null until then.</summary>
    EndPoint? BoundEndPoint { get; }

    /// <summary>What its connections publish to, as configured (a template) or as its API takes it; null: nothing.</summary>
    string? Publish { get; }

    /// <summary>What its connections subscribe to, as configured or as its API takes it.</summary>
    IReadOnlyList<string> Subscribe { get; }

    /// <summary>A few words for the start-up line beside its topics, such as its framing; empty when there is nothing to add.</summary>
    string Details { get; }

    /// <summary>Whether it speaks TLS.</summary>
    bool Tls { get; }

    /// <summary>TLS handshakes that failed on its listener since start; null without TLS, or where another endpoint counts them.</summary>
    long? FailedTlsHandshakes { get; }

    /// <summary>Connections closed because their input broke its framing; null for an endpoint without framing of its own.</summary>
    long? FramingErrors { get; }

    /// <summary>What one unit of its traffic is called in the metrics: "frame", or "datagram".</summary>
    string TrafficUnit { get; }

    /// <summary>
    /// Traffic it counts itself; null when its traffic is its connections' (the registry sums that), as for every
    /// connection-oriented endpoint. A datagram endpoint counts what it reads before any peer is known, and what it
    /// sends to a target that is no connection.
    /// </summary>
    EndpointTraffic? Traffic { get; }

    /// <summary>Units of its traffic dropped on the way in or out, by reason (lower case, words joined by '_'); empty when it drops none of its own.</summary>
    IEnumerable<(string Reason, long Count)> Drops { get; }
}

/// <summary>Bytes and units (frames or datagrams) received and sent by an endpoint since start.</summary>
internal readonly record struct EndpointTraffic(long BytesIn, long BytesOut, long UnitsIn, long UnitsOut);

/// <summary>A capability's endpoints; each capability registers one, and <see cref="EndpointDirectory"/> lists them all.</summary>
internal interface IEndpointCatalog
{
    IEnumerable<IEndpointDescription> Endpoints { get; }
}

/// <summary>Every endpoint of every capability, in the order the capabilities were registered.</summary>
internal sealed class EndpointDirectory(IEnumerable<IEndpointCatalog> catalogs)
{
    public IReadOnlyList<IEndpointDescription> Endpoints { get; } = [.. catalogs.SelectMany(catalog => catalog.Endpoints)];
}
