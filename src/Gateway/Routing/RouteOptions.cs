using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Protocols.Framing;

namespace Gateway.Routing;

/// <summary>
/// One route (<c>Gateway:Routes:{name}</c>): the messages on <see cref="From"/> go to the upstream <see cref="To"/>, in a
/// bounded queue, with a window of requests in flight; answers go to <see cref="ReplyTopic"/>, and what cannot be
/// delivered goes to <see cref="DeadLetter"/>.
/// </summary>
public sealed class RouteOptions
{
    /// <summary>Topic filters whose messages the route forwards ('+' and '#' as in subscriptions). At least one.</summary>
    public List<string> From { get; set; } = [];

    /// <summary>The upstream service.</summary>
    public UpstreamOptions To { get; set; } = new();

    /// <summary>
    /// Topic template the upstream's answers are published to. For an HTTP upstream, the body of a 2xx answer, rendered
    /// with the placeholders of the message it answers ({endpoint}, {connectionId} and {remote} of its sender), so a device
    /// gets the answer to its own request. For TCP and UDP upstreams, every frame or datagram they send; their answers
    /// belong to no one message, so the template has no placeholders. Unset: answers are discarded.
    /// </summary>
    public string? ReplyTopic { get; set; }

    /// <summary>
    /// Topic template a message is published to, unchanged, when the route gives up on it: retries exhausted, an answer
    /// that is a failure, its <see cref="Ttl"/> passed, the queue full, or the gateway stopping. Placeholders as for
    /// <see cref="ReplyTopic"/> of an HTTP upstream. Unset: such messages are counted and discarded.
    /// </summary>
    public string? DeadLetter { get; set; }

    /// <summary>
    /// The identity whose permissions (<c>Gateway:Security:Permissions</c>) the route subscribes and publishes under.
    /// Unset: the permissions of anonymous peers.
    /// </summary>
    public string? Identity { get; set; }

    /// <summary>Messages waiting for the upstream. <c>DropOldest</c> or <c>DropNewest</c>; a route cannot be disconnected.</summary>
    public OutboxOptions Queue { get; set; } = new();

    /// <summary>A message older than this (since it entered the gateway) is not sent, or no longer retried. Defaults to 60 seconds.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Messages sent and not yet answered, at most. Defaults to 16.</summary>
    public int MaxInFlight { get; set; } = 16;

    /// <summary><c>PerTopic</c> (the default): one message per topic in flight, so each topic's order holds. <c>None</c>: any order.</summary>
    public RouteOrdering Ordering { get; set; } = RouteOrdering.PerTopic;

    /// <summary>How long one attempt may take. Defaults to 10 seconds.</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a message's attempts and the waits between them may take together. Defaults to 30 seconds.</summary>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public RouteRetryOptions Retry { get; set; } = new();

    public RouteCircuitBreakerOptions CircuitBreaker { get; set; } = new();

    /// <summary>Whether <c>/readyz</c> waits for this route's upstream (its circuit closed). Defaults to false.</summary>
    public bool Required { get; set; }
}

/// <summary>Whether a route keeps each topic's messages in order.</summary>
public enum RouteOrdering
{
    /// <summary>One message of a topic in flight at a time, retries included: each topic's messages arrive in order.</summary>
    PerTopic,

    /// <summary>Up to the route's window in flight, whatever their topics.</summary>
    None,
}

/// <summary>Retries of a failed attempt: connection failures, timeouts, and for HTTP 5xx, 408 and 429, never other 4xx.</summary>
public sealed class RouteRetryOptions
{
    /// <summary>Retries after the first attempt. Defaults to 3; 0 turns retries off.</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>The first wait; each next one doubles, with jitter. Defaults to 200 ms. An HTTP answer's <c>Retry-After</c> takes precedence.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest wait between attempts. Defaults to 10 seconds.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Stops sending to an upstream that keeps failing: messages wait in the queue (within their TTL) while the circuit is
/// open, and one trial goes through after <see cref="BreakDuration"/>.
/// </summary>
public sealed class RouteCircuitBreakerOptions
{
    /// <summary>Share of failed attempts within <see cref="SamplingDuration"/> that opens the circuit. Defaults to 0.5.</summary>
    public double FailureRatio { get; set; } = 0.5;

    /// <summary>Attempts within <see cref="SamplingDuration"/> before the ratio counts. Defaults to 10.</summary>
    public int MinimumThroughput { get; set; } = 10;

    /// <summary>Defaults to 30 seconds.</summary>
    public TimeSpan SamplingDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the circuit stays open before a trial. Defaults to 5 seconds.</summary>
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>The kinds of upstream a route can forward to.</summary>
public enum UpstreamKind
{
    /// <summary>An HTTP or HTTPS service: each message is one request.</summary>
    Http,

    /// <summary>A TCP service: each message is one frame on a persistent connection.</summary>
    Tcp,

    /// <summary>A UDP service: each message is one datagram.</summary>
    Udp,
}

/// <summary>A route's upstream (<c>Gateway:Routes:{name}:To</c>).</summary>
public sealed class UpstreamOptions
{
    public UpstreamKind Kind { get; set; } = UpstreamKind.Http;

    /// <summary>HTTP: the URL each message is sent to, <c>http://</c> or <c>https://</c>.</summary>
    public string? Url { get; set; }

    /// <summary>HTTP: the request method. Defaults to POST.</summary>
    public string Method { get; set; } = "POST";

    /// <summary>HTTP: <c>1.1</c> (the default) or <c>2</c> (HTTP/2, also without TLS, by prior knowledge).</summary>
    public string HttpVersion { get; set; } = "1.1";

    /// <summary>HTTP: connections to the upstream at most, the Node agent's <c>maxSockets</c>. Defaults to 16.</summary>
    public int MaxConnections { get; set; } = 16;

    /// <summary>HTTP: a pooled connection is replaced after this long, so DNS changes are seen. Defaults to 5 minutes.</summary>
    public TimeSpan PooledConnectionLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>HTTP: a pooled connection idle this long is closed. Defaults to 60 seconds.</summary>
    public TimeSpan PooledConnectionIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>HTTP: the largest answer body published to the reply topic; a larger one fails the message. Defaults to 1,048,576 bytes.</summary>
    public int MaxReplyBytes { get; set; } = 1024 * 1024;

    /// <summary>TCP and UDP: "host:port" of the service.</summary>
    public string? Address { get; set; }

    /// <summary>TCP: how messages and answers are cut into frames on the connection.</summary>
    public FramingOptions Framing { get; set; } = new();

    /// <summary>HTTPS: the authorities the upstream's certificate must chain to, and the gateway's client certificate.</summary>
    public UpstreamTlsOptions? Tls { get; set; }
}

/// <summary>TLS towards an upstream (the seeds' TLS client with its own certificate).</summary>
public sealed class UpstreamTlsOptions
{
    /// <summary>PEM file of the CA certificates the upstream's certificate must chain to (a private CA). Unset: the system's trust store.</summary>
    public string? CertificateAuthority { get; set; }

    /// <summary>The certificate and key the gateway presents to the upstream. Unset: none.</summary>
    public CertificateFileOptions? ClientCertificate { get; set; }
}
