using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Observability;
using Gateway.Protocols.Framing;
using Gateway.Security;

namespace Gateway.Tcp;

/// <summary>A configured TCP or Unix socket endpoint, ready to serve: its codec and templates built once at start.</summary>
internal sealed class FramedEndpoint : IEndpointDescription
{
    private int _activeConnections;
    private long _framingErrors;

    public FramedEndpoint(string name, EndpointOptions options, EndpointTls? tls = null)
    {
        Name = name;
        Options = options;
        Tls = tls;
        Codec = FrameCodecFactory.Create(options.Framing);
        Topics = new EndpointTopics(options.Publish, options.Subscribe);
        Admission = new ConnectionAdmission(options.Limits);
    }

    public string Name { get; }

    public EndpointOptions Options { get; }

    public IFrameCodec Codec { get; }

    /// <summary>TLS in front of the framing; null for a plaintext endpoint.</summary>
    public EndpointTls? Tls { get; }

    public EndpointTopics Topics { get; }

    public bool IsUnixSocket => Options.UnixSocketPath is not null;

    /// <summary>"tcp", or "unix" for a Unix domain socket, as the admin API, connections and metrics name it.</summary>
    public string Protocol => IsUnixSocket ? "unix" : "tcp";

    /// <summary>Kestrel's listeners for this endpoint (two for "localhost": IPv4 and IPv6).</summary>
    public List<ListenOptions> Listeners { get; } = [];

    /// <summary>Where the listener is bound; after start this is the real port when 0 was configured.</summary>
    public EndPoint? BoundEndPoint => Listeners.Count > 0 ? Listeners[0].EndPoint : null;

    public int ActiveConnections => Volatile.Read(ref _activeConnections);

    /// <summary>The accept rate and the cap per source address, checked once a connection has a slot.</summary>
    public ConnectionAdmission Admission { get; }

    /// <summary>Claims a connection slot; false when <see cref="EndpointOptions.MaxConnections"/> are already open.</summary>
    public bool TryAcquireConnectionSlot()
    {
        if (Interlocked.Increment(ref _activeConnections) <= Options.MaxConnections) return true;
        Interlocked.Decrement(ref _activeConnections);
        return false;
    }

    public void ReleaseConnectionSlot() => Interlocked.Decrement(ref _activeConnections);

    /// <summary>Connections closed since start because their input broke the framing (a malformed or oversized frame).</summary>
    public long FramingErrors => Volatile.Read(ref _framingErrors);

    public void OnFramingError() => Interlocked.Increment(ref _framingErrors);

    /// <summary>A connection closed because a frame stayed incomplete past FrameTimeout: counted as <c>frame_timeout</c>.</summary>
    public void OnFrameTimeout() => FrameTimeouts?.Increment();

    /// <summary>The count of connections closed for a frame left incomplete; set by the catalog.</summary>
    public RejectionCounter? FrameTimeouts { get; init; }

    /// <summary>Bounds the framing-error lines a peer can cause at will; <see cref="FramingErrors"/> counts every one.</summary>
    public required LogThrottle FramingErrorLog { get; init; }

    /// <summary>The message and byte rates of each connection (<c>Limits</c>); null when none is set.</summary>
    public EndpointRateLimits? RateLimits { get; init; }

    string? IEndpointDescription.Publish => Options.Publish;

    IReadOnlyList<string> IEndpointDescription.Subscribe => Options.Subscribe;

    string IEndpointDescription.Details => $"{Options.Framing.Kind} framing";

    bool IEndpointDescription.Tls => Tls is not null;

    long? IEndpointDescription.FailedTlsHandshakes => Tls?.FailedHandshakes;

    long? IEndpointDescription.FramingErrors => FramingErrors;

    string IEndpointDescription.TrafficUnit => "frame";

    EndpointTraffic? IEndpointDescription.Traffic => null;

    IEnumerable<(string Reason, long Count)> IEndpointDescription.Drops => [];
}
