using Gateway.Messaging;
using Gateway.Protocols.Framing;

namespace Gateway.Configuration;

/// <summary>The <c>Gateway</c> configuration section.</summary>
/// <remarks>
/// JSON shape:
/// <code>
/// "Gateway": {
///   "DefaultAddress": "127.0.0.1",
///   "Http": { "Port": 8080 },
///   "Https": { "Port": 8443, "Certificate": { "Path": "server.crt", "KeyPath": "server.key" } },
///   "Endpoints": { "echo": { "Protocol": "Tcp", "Port": 9000, "Framing": { ... }, "Publish": "...", "Subscribe": [ "..." ] } }
/// }
/// </code>
/// </remarks>
public sealed class GatewayOptions
{
    public const string SectionName = "Gateway";

    /// <summary>Address used by every listener that sets none. Defaults to 127.0.0.1; the container sets 0.0.0.0.</summary>
    public string DefaultAddress { get; set; } = "127.0.0.1";

    public HttpHostOptions Http { get; set; } = new();

    /// <summary>HTTPS for the HTTP host's API, server-sent events and WebSocket; off until a certificate is set.</summary>
    public HttpsOptions Https { get; set; } = new();

    /// <summary>API keys, and what each identity may publish, subscribe to and administer.</summary>
    public SecurityOptions Security { get; set; } = new();

    public TransportOptions Transport { get; set; } = new();

    public ShutdownOptions Shutdown { get; set; } = new();

    /// <summary>What the gateway refuses while the process is short of memory: new connections, HTTP requests, new UDP senders.</summary>
    public Gateway.Overload.OverloadOptions Overload { get; set; } = new();

    /// <summary>OpenTelemetry export; <c>/metrics</c> serves the Prometheus text format whatever is set here.</summary>
    public TelemetryOptions Telemetry { get; set; } = new();

    /// <summary>Console log lines as readable <c>Text</c> (the default) or as <c>Json</c> objects, one per line (the container's choice).</summary>
    public LogFormat LogFormat { get; set; } = LogFormat.Text;

    /// <summary>The NATS link that joins several instances into one topic space; none by default.</summary>
    public Gateway.Backplane.BackplaneOptions Backplane { get; set; } = new();

    /// <summary>Endpoints by name. The name appears in logs, in topic templates as {endpoint}, and in the admin API.</summary>
    public Dictionary<string, EndpointOptions> Endpoints { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Routes by name: topics forwarded to upstream HTTP, TCP and UDP services, whose answers come back as messages.</summary>
    public Dictionary<string, Gateway.Routing.RouteOptions> Routes { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>HTTP <c>CONNECT</c> and WebSocket-to-TCP bridges to allow-listed destinations; none by default.</summary>
    public Gateway.Routing.Tunnels.TunnelsOptions Tunnels { get; set; } = new();
}

/// <summary>The shared HTTP host (API, health, and later WebSocket and SSE).</summary>
public sealed class HttpHostOptions
{
    /// <summary>Defaults to <see cref="GatewayOptions.DefaultAddress"/>.</summary>
    public string? Address { get; set; }

    /// <summary>Defaults to 8080. Use 0 for an ephemeral port.</summary>
    public int Port { get; set; } = 8080;

    /// <summary>How long a request's headers may take to arrive (Kestrel's RequestHeadersTimeout: an HTTP slowloris). Defaults to 30 seconds.</summary>
    public TimeSpan RequestHeadersTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a kept-alive connection may wait for its next request (Kestrel's KeepAliveTimeout). Defaults to 130 seconds.</summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(130);

    /// <summary>Largest body <c>POST /api/topics/{topic}</c> accepts; larger gets 413. Defaults to 1,048,576 bytes.</summary>
    public int MaxPublishBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// Rate limits of <c>POST /api/topics/{topic}</c>, per client (its identity, or else its address): messages and
    /// bytes per second with bursts; over them, 429 with Retry-After. Off until set.
    /// </summary>
    public Gateway.Connections.RateLimitOptions Limits { get; set; } = new();

    public ServerSentEventsOptions Sse { get; set; } = new();

    public WebSocketEndpointOptions WebSocket { get; set; } = new();
}

/// <summary>WebSocket at <c>/ws</c> on the HTTP host.</summary>
public sealed class WebSocketEndpointOptions
{
    /// <summary>Largest message accepted from a client; a larger one closes the socket with 1009. Defaults to 1,048,576 bytes.</summary>
    public int MaxMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>How often the server pings an idle client. Defaults to 30 seconds.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A client that does not answer a ping within this long is dropped. Defaults to 30 seconds.</summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Browser origins allowed to connect ("https://app.example.com"). Empty: any origin. Requests without an
    /// Origin header (not from a browser) are always allowed.
    /// </summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>Each socket's queue of messages waiting to be sent.</summary>
    public OutboxOptions Outbox { get; set; } = new();

    /// <summary>
    /// Closes a socket that has carried no message either way for this long (pings do not count), with 1000, so a
    /// client that only holds a socket does not hold it for good. Defaults to 10 minutes, as AWS's WebSocket API gateway
    /// does; 0 turns it off.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long a client closed for bad input or a limit may go on sending, its input read and dropped, before the connection
    /// closes: time for it to read the messages and the close frame it was owed rather than lose them to a reset. Defaults
    /// to 2 seconds; 0 turns lingering off.
    /// </summary>
    public TimeSpan LingerTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Each socket's messages and bytes per second, and new sockets per second and per client address; off until set.</summary>
    public Gateway.Connections.RateLimitOptions Limits { get; set; } = new();
}

/// <summary>Server-sent event streams of <c>GET /api/topics/{filter}/events</c>.</summary>
public sealed class ServerSentEventsOptions
{
    /// <summary>Messages kept per topic for <c>Last-Event-ID</c> resumption. Defaults to 100; 0 turns history off.</summary>
    public int HistoryPerTopic { get; set; } = 100;

    /// <summary>Topics with history at most; the least recently used is forgotten first. Defaults to 10,000.</summary>
    public int MaxHistoryTopics { get; set; } = 10_000;

    /// <summary>
    /// How long a filter's history keeps recording after its last stream closed, so a client that
    /// reconnects within it misses nothing. Defaults to 5 minutes.
    /// </summary>
    public TimeSpan HistoryRetention { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A comment line is sent after this long without events, so proxies keep the stream open. Defaults to 15 seconds.</summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Each stream's queue of messages waiting to be sent.</summary>
    public OutboxOptions Outbox { get; set; } = new();

    /// <summary>
    /// Closes a stream that has sent no event (keep-alive comments aside) for this long: a browser's EventSource
    /// reconnects by itself and resumes from its last event id. Defaults to 10 minutes; 0 turns it off.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>New streams per second (<c>ConnectionsPerSecond</c>, <c>ConnectionBurst</c>) and streams per client address (<c>MaxConnectionsPerAddress</c>); off until set.</summary>
    public Gateway.Connections.RateLimitOptions Limits { get; set; } = new();
}

/// <summary>How console log lines are written.</summary>
public enum LogFormat
{
    /// <summary>"14:52:52.980 INF Gateway.Tcp Connection ... opened on echo from 127.0.0.1:53728 as anonymous".</summary>
    Text,

    /// <summary>One JSON object per line: Timestamp, Level, MessageTemplate, RenderedMessage and Properties.</summary>
    Json,
}

/// <summary>What happens on SIGTERM (<c>Gateway:Shutdown</c>).</summary>
public sealed class ShutdownOptions
{
    /// <summary>
    /// How long open connections get to send what they have queued and close, after the gateway stops accepting;
    /// what is still open then is cut off. Defaults to 30 seconds; a container's stop grace period should be longer.
    /// </summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Where metrics and traces are exported (<c>Gateway:Telemetry</c>).</summary>
public sealed class TelemetryOptions
{
    /// <summary>
    /// The OpenTelemetry collector to push metrics and traces to, e.g. <c>http://otel-collector:4317</c>; unset (the
    /// default), nothing is pushed and no spans are made.
    /// </summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary><c>Grpc</c> (the default, usually port 4317) or <c>HttpProtobuf</c> (usually 4318).</summary>
    public OtlpProtocol OtlpProtocol { get; set; } = OtlpProtocol.Grpc;

    /// <summary>How often metrics are pushed to <see cref="OtlpEndpoint"/>. Defaults to 15 seconds.</summary>
    public TimeSpan OtlpExportInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Records each delivery's latency in <c>gateway.message.delivery.duration</c>. Defaults to true; the one metric
    /// recorded per message, it costs about 5 % of the TCP echo's peak rate (bench/README.md), which false saves.
    /// </summary>
    public bool MeasureDeliveryLatency { get; set; } = true;
}

/// <summary>The OTLP transport.</summary>
public enum OtlpProtocol
{
    Grpc,
    HttpProtobuf,
}

/// <summary>How Kestrel moves bytes between sockets and connection handlers (<c>Gateway:Transport</c>).</summary>
public sealed class TransportOptions
{
    /// <summary>
    /// The transport of every listener: the framed TCP and Unix socket endpoints, UDP, and the HTTP host's ports.
    /// <see cref="TransportKind.Epoll"/>, the gateway's own event loops and batched UDP system calls, is the default on
    /// Linux; <see cref="TransportKind.Sockets"/>, Kestrel's socket transport and the runtime's socket engine, elsewhere.
    /// </summary>
    public TransportKind Kind { get; set; } = OperatingSystem.IsLinux() ? TransportKind.Epoll : TransportKind.Sockets;

    /// <summary>Event-loop threads of the epoll transport. Defaults to the number of processors this process may run on.</summary>
    public int? EpollLoops { get; set; }

    /// <summary>
    /// Runs connection code on the I/O thread that read the bytes instead of queueing it to the thread pool.
    /// Saves a thread hop per read and per flush; safe because no gateway handler blocks. Defaults to true.
    /// </summary>
    public bool InlineScheduling { get; set; } = true;

    /// <summary>
    /// Socket transport only. Completes socket operations on the runtime's epoll threads instead of the thread pool:
    /// with <see cref="InlineScheduling"/>, a read, its frames' publication and the echo's send run on one thread with
    /// no hand-off. Sets DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS at start unless the environment already sets it.
    /// Defaults to true.
    /// </summary>
    public bool InlineCompletions { get; set; } = true;

    /// <summary>
    /// Socket transport only. Issues a zero-byte read before allocating a receive buffer. That saves a 4 KiB buffer
    /// per idle connection but costs an extra system call per read on busy ones (about 10% of echo throughput here).
    /// Defaults to false; set true for very many mostly idle connections.
    /// </summary>
    public bool WaitForDataBeforeAllocatingBuffer { get; set; }

    /// <summary>Socket transport only. Number of I/O queues (socket event threads). Unset: Kestrel's default, the processor count (at most 16).</summary>
    public int? IOQueueCount { get; set; }
}

/// <summary>Transports that can carry the framed and UDP endpoints.</summary>
public enum TransportKind
{
    /// <summary>
    /// Linux: the gateway's epoll event loops for TCP (one read and one send per socket wake-up, nothing more), and for
    /// UDP a thread per endpoint that receives and sends a batch of datagrams per system call.
    /// </summary>
    Epoll,

    /// <summary>Kestrel's socket transport and the runtime's socket engine; works on every operating system.</summary>
    Sockets,
}

/// <summary>Transport of an endpoint.</summary>
public enum EndpointProtocol
{
    /// <summary>A stream socket (TCP, or a Unix domain socket) cut into frames by <see cref="EndpointOptions.Framing"/>.</summary>
    Tcp,

    /// <summary>UDP: each datagram is one message.</summary>
    Udp,
}

/// <summary>One listener and what its connections publish and subscribe to.</summary>
public sealed class EndpointOptions
{
    public EndpointProtocol Protocol { get; set; } = EndpointProtocol.Tcp;

    /// <summary>Set false to keep the endpoint configured but not listening.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// IP address, "localhost" (IPv4 and IPv6 loopback; 127.0.0.1 for UDP, which binds one socket) or "*" (every
    /// interface). Defaults to <see cref="GatewayOptions.DefaultAddress"/>.
    /// </summary>
    public string? Address { get; set; }

    /// <summary>
    /// TCP or UDP port; 0 picks a free one. A TCP endpoint sets exactly one of <see cref="Port"/> and
    /// <see cref="UnixSocketPath"/>; a UDP endpoint requires a port. TCP and UDP endpoints may use the same number.
    /// </summary>
    public int? Port { get; set; }

    /// <summary>Path of a Unix domain socket to listen on instead of a port.</summary>
    public string? UnixSocketPath { get; set; }

    /// <summary>How a TCP byte stream is cut into frames. Not used by UDP, where each datagram is one message.</summary>
    public FramingOptions Framing { get; set; } = new();

    /// <summary>TLS, and optionally client certificates, in front of a TCP endpoint's framing. Unset: plaintext.</summary>
    public TlsOptions? Tls { get; set; }

    /// <summary>Settings of UDP endpoints only.</summary>
    public UdpEndpointOptions Udp { get; set; } = new();

    /// <summary>Topic template each inbound frame is published to, e.g. "devices/{connectionId}/up". Unset: inbound frames are counted and discarded.</summary>
    public string? Publish { get; set; }

    /// <summary>Topic filter templates every connection subscribes to, e.g. "devices/{connectionId}/down".</summary>
    public List<string> Subscribe { get; set; } = [];

    /// <summary>Disables Nagle's algorithm on accepted sockets. Defaults to true.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>
    /// Closes a connection with no traffic in either direction for this long, so peers that vanished without a FIN (or
    /// that only hold a socket) do not keep it for good. Defaults to 5 minutes, as cloud load balancers do; 0 turns it off.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = DefaultIdleTimeout;

    /// <summary>
    /// How long a frame may take to arrive once its first byte has: a peer that dribbles a frame or leaves one hanging
    /// is closed as bad input (a TCP slowloris). Defaults to 30 seconds, as Kestrel gives a request's headers; 0 turns it off.
    /// </summary>
    public TimeSpan FrameTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The default of <see cref="IdleTimeout"/>.</summary>
    public static readonly TimeSpan DefaultIdleTimeout = TimeSpan.FromMinutes(5);

    /// <summary>Connections beyond this are closed as soon as they are accepted. Defaults to 10,000.</summary>
    public int MaxConnections { get; set; } = 10_000;

    /// <summary>Rate limits of the endpoint's peers and of its new connections; every one is off until set.</summary>
    public Gateway.Connections.RateLimitOptions Limits { get; set; } = new();

    /// <summary>Bounds each connection's queue of messages waiting to be written.</summary>
    public OutboxOptions Outbox { get; set; } = new();

    /// <summary>How long a closing connection may take to write what its outbox still holds. Defaults to 5 seconds.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a connection closed for bad input reads and discards what its peer still sends, after its replies and
    /// FIN, so the peer receives them instead of a reset (nginx's lingering close). Defaults to 5 seconds; 0 turns it off.
    /// </summary>
    public TimeSpan LingerTimeout { get; set; } = TimeSpan.FromSeconds(5);
}
