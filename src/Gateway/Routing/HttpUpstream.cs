using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using Gateway.Messaging;
using Gateway.Observability;
using Gateway.Security;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Gateway.Routing;

/// <summary>
/// An HTTP upstream: each message is one request with the payload as its body, through the route's own connection
/// pool (one <see cref="SocketsHttpHandler"/> per route, from <see cref="IHttpMessageHandlerFactory"/>) and the route's
/// resilience pipeline: a total timeout, retries with backoff and jitter, a circuit breaker and an attempt timeout.
/// </summary>
/// <remarks>
/// The pipeline runs here, around each attempt, rather than as the resilience handler inside the client: same strategies
/// (Microsoft.Extensions.Http.Resilience's HTTP options, on Polly), one layer less per request. The handler's own layer
/// (its request options, its context, its delegating handler) cost about an eighth of a route's forwarded messages per
/// second at saturation (bench/README.md, "Routes"). Each attempt sends a request message of its own, as a request
/// message is sent once. The factory's handler is invoked without an <see cref="HttpClient"/> around it: the pipeline
/// already times each attempt, and the client would link one more cancellation source to every request for its own
/// timeout and its <c>CancelPendingRequests</c>, which a route never uses.
/// </remarks>
internal sealed class HttpUpstream : IUpstream
{
    /// <summary>Headers each request carries besides the trace context (<c>traceparent</c>, added by the client when traced).</summary>
    public const string TopicHeader = "X-Gateway-Topic", MessageIdHeader = "X-Gateway-Message-Id", SourceHeader = "X-Gateway-Source";

    private static readonly MediaTypeHeaderValue s_octetStream = new("application/octet-stream");

    private readonly string _route;
    private readonly HttpMessageInvoker _invoker;
    private readonly ResiliencePipeline<HttpResponseMessage> _resilience;
    private readonly Uri _url;
    private readonly HttpMethod _method;
    private readonly Version _version;
    private readonly int _maxReplyBytes;

    public HttpUpstream(string route, RouteOptions options, HttpMessageInvoker invoker, UpstreamCircuit circuit)
    {
        _route = route;
        _invoker = invoker;
        Circuit = circuit;
        _resilience = BuildResilience(options, circuit);
        _url = new Uri(options.To.Url!);
        _method = HttpMethod.Parse(options.To.Method);
        _version = options.To.HttpVersion == "2" ? HttpVersion.Version20 : HttpVersion.Version11;
        _maxReplyBytes = options.To.MaxReplyBytes;
    }

    public string Destination => Circuit.Destination;

    public UpstreamCircuit Circuit { get; }

    /// <summary>The name of the route's handler in <see cref="IHttpMessageHandlerFactory"/>.</summary>
    public static string ClientName(string route) => "route:" + route;

    public Task StartAsync(Action<byte[]> onAnswer, CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task<UpstreamResult> SendAsync(Message message, CancellationToken cancellationToken)
    {
        // The client's diagnostics handler writes the current span's context as traceparent.
        using var span = MessageTracing.StartForward(message, _route, Destination);
        // Outcomes rather than exceptions between the pipeline and the attempt: the overloads that throw add two more
        // asynchronous layers per request.
        var context = ResilienceContextPool.Shared.Get(cancellationToken);
        try
        {
            var outcome = await _resilience.ExecuteOutcomeAsync(
                static (context, state) => state.upstream.SendAttemptAsync(state.message, context.CancellationToken),
                context, (upstream: this, message)).ConfigureAwait(false);
            if (outcome.Exception is { } error)
            {
                if (FailureOf(error) is { } failure) return failure;
                // The route's own cancellation (its TTL, its stop) or a fault of the gateway's own: the route tells them apart.
                outcome.ThrowIfException();
            }

            using var response = outcome.Result!;
            if (!response.IsSuccessStatusCode)
                return UpstreamResult.Failed(StatusLine(response));
            // The attempt read the answer whole: this copies it out of that buffer.
            var answer = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
            return UpstreamResult.Succeeded(answer.Length > 0 ? answer : null, response.Content.Headers.ContentType?.ToString());
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>How a message that did not get an answer ends; null when it is not the upstream's doing.</summary>
    private UpstreamResult? FailureOf(Exception error)
    {
        if (UpstreamResilience.PipelineResult(error) is { } result) return result;
        if (IsOverReplyLimit(error)) return UpstreamResult.Failed($"the answer is longer than To:MaxReplyBytes ({_maxReplyBytes} bytes)");
        return error is HttpRequestException failed
            ? UpstreamResult.Failed(failed.InnerException is { } inner ? $"{failed.Message} ({inner.Message})" : failed.Message)
            : null;
    }

    /// <summary>One attempt: a new request, answered in full (a retried attempt's answer is disposed by the retry).</summary>
    private async ValueTask<Outcome<HttpResponseMessage>> SendAttemptAsync(Message message, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(_method, _url)
        {
            Version = _version,
            // "2" is HTTP/2 by prior knowledge, without TLS too: never fall back to 1.1 silently.
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Content = new ReadOnlyMemoryContent(message.Payload),
        };
        request.Content.Headers.ContentType = message.ContentType is { } type && MediaTypeHeaderValue.TryParse(type, out var parsed) ? parsed : s_octetStream;
        request.Headers.TryAddWithoutValidation(TopicHeader, HeaderValue(message.Topic));
        request.Headers.TryAddWithoutValidation(MessageIdHeader, message.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        request.Headers.TryAddWithoutValidation(SourceHeader, HeaderValue(message.SourceEndpoint));
        HttpResponseMessage? response = null;
        try
        {
            response = await _invoker.SendAsync(request, cancellationToken).ConfigureAwait(false);
            // Read whole within the attempt, as an answer that stops halfway is the attempt failing. Over the limit this
            // throws HttpRequestException(ConfigurationLimitExceeded), as HttpClient's MaxResponseContentBufferSize does.
            await response.Content.LoadIntoBufferAsync(_maxReplyBytes, cancellationToken).ConfigureAwait(false);
            return Outcome.FromResult(response);
        }
        catch (Exception ex)
        {
            response?.Dispose();
            return Outcome.FromException<HttpResponseMessage>(ex);
        }
    }

    /// <summary>A header carries visible ASCII only: other characters of a topic are percent-encoded as UTF-8.</summary>
    private static string HeaderValue(string value)
    {
        foreach (var c in value)
        {
            if (c is < ' ' or > '~') return Uri.EscapeDataString(value);
        }

        return value;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    /// <summary>The route's connection pool: the Node agent's <c>maxSockets</c> and keep-alive, and TLS towards the upstream.</summary>
    /// <param name="connect">Opens the pool's connections on the gateway's transport; null: the handler's own sockets.</param>
    public static SocketsHttpHandler CreateHandler(UpstreamOptions to, Func<SocketsHttpConnectionContext, CancellationToken, ValueTask<Stream>>? connect)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = connect,
            MaxConnectionsPerServer = to.MaxConnections,
            PooledConnectionLifetime = to.PooledConnectionLifetime,
            PooledConnectionIdleTimeout = to.PooledConnectionIdleTimeout,
            // A route forwards to one URL; a redirect is the upstream's answer, not somewhere else to send the message.
            AllowAutoRedirect = false,
            UseCookies = false,
            UseProxy = false,
        };
        if (to.Tls is { } tls)
        {
            if (tls.ClientCertificate is { } certificate)
                handler.SslOptions.ClientCertificates = [CertificateFiles.LoadWithKey(certificate)];
            if (tls.CertificateAuthority is { } authority)
            {
                // Only the private authorities, never the system's store; the host name is checked as always.
                var policy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
                policy.CustomTrustStore.AddRange(CertificateFiles.LoadBundle(authority, nameof(tls.CertificateAuthority)));
                handler.SslOptions.CertificateChainPolicy = policy;
            }
        }

        return handler;
    }

    /// <summary>
    /// The route's resilience pipeline, outermost first: the total timeout, retries of connection failures, timeouts,
    /// 5xx, 408 and 429 (after <c>Retry-After</c> when the answer gives one) and never of other 4xx, the circuit breaker,
    /// and the timeout of each attempt.
    /// </summary>
    private static ResiliencePipeline<HttpResponseMessage> BuildResilience(RouteOptions options, UpstreamCircuit circuit)
    {
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage>();
        pipeline.AddTimeout(new HttpTimeoutStrategyOptions { Name = "total", Timeout = options.TotalTimeout });
        if (options.Retry.MaxRetries > 0)
        {
            var retry = new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = options.Retry.MaxRetries,
                Delay = options.Retry.BaseDelay,
                MaxDelay = options.Retry.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldRetryAfterHeader = true,
            };
            var transient = retry.ShouldHandle;
            retry.ShouldHandle = args => IsOverReplyLimit(args.Outcome.Exception) ? ValueTask.FromResult(false) : transient(args);
            pipeline.AddRetry(retry);
        }

        var breaker = options.CircuitBreaker;
        var breakerOptions = new HttpCircuitBreakerStrategyOptions
        {
            FailureRatio = breaker.FailureRatio,
            MinimumThroughput = breaker.MinimumThroughput,
            SamplingDuration = breaker.SamplingDuration,
            BreakDuration = breaker.BreakDuration,
            OnOpened = args =>
            {
                circuit.OnOpened(Describe(args.Outcome), args.BreakDuration);
                return ValueTask.CompletedTask;
            },
            OnClosed = _ =>
            {
                circuit.OnClosed();
                return ValueTask.CompletedTask;
            },
        };
        var failure = breakerOptions.ShouldHandle;
        breakerOptions.ShouldHandle = args => IsOverReplyLimit(args.Outcome.Exception) ? ValueTask.FromResult(false) : failure(args);
        pipeline.AddCircuitBreaker(breakerOptions);
        return pipeline.AddTimeout(new HttpTimeoutStrategyOptions { Name = "attempt", Timeout = options.AttemptTimeout }).Build();
    }

    /// <summary>
    /// An answer longer than <c>To:MaxReplyBytes</c> is this gateway's limit, not the upstream failing: the upstream took
    /// the message, so it is never retried (that would deliver it again) and never counted by the circuit breaker.
    /// </summary>
    private static bool IsOverReplyLimit(Exception? exception) =>
        exception is HttpRequestException { HttpRequestError: HttpRequestError.ConfigurationLimitExceeded };

    /// <summary>A failed answer as the route's last error and the circuit's log line name it: "HTTP 503 Service Unavailable".</summary>
    private static string StatusLine(HttpResponseMessage response) => $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd();

    private static string Describe(Outcome<HttpResponseMessage> outcome) =>
        outcome.Exception is { } exception ? exception.Message
        : outcome.Result is { } response ? StatusLine(response)
        : "unknown";
}
