using System.Net.Sockets;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace Gateway.Routing;

/// <summary>
/// The retries, timeouts and circuit breaker of a TCP or UDP upstream: the same shape and settings as an HTTP route's
/// resilience pipeline (<see cref="HttpUpstream"/>), with socket failures as the transient ones.
/// </summary>
internal static class UpstreamResilience
{
    public static ResiliencePipeline Build(RouteOptions options, UpstreamCircuit circuit)
    {
        var transient = new PredicateBuilder()
            // A datagram too large for the path fails the same way every time.
            .Handle<SocketException>(ex => ex.SocketErrorCode != SocketError.MessageSize)
            .Handle<IOException>()
            // A send that took the connection just as it was lost.
            .Handle<ObjectDisposedException>()
            .Handle<UpstreamNotConnectedException>()
            .Handle<TimeoutRejectedException>();
        var pipeline = new ResiliencePipelineBuilder().AddTimeout(options.TotalTimeout);
        if (options.Retry.MaxRetries > 0)
        {
            pipeline.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = transient,
                MaxRetryAttempts = options.Retry.MaxRetries,
                Delay = options.Retry.BaseDelay,
                MaxDelay = options.Retry.MaxDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
            });
        }

        var breaker = options.CircuitBreaker;
        return pipeline.AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = transient,
                FailureRatio = breaker.FailureRatio,
                MinimumThroughput = breaker.MinimumThroughput,
                SamplingDuration = breaker.SamplingDuration,
                BreakDuration = breaker.BreakDuration,
                OnOpened = args =>
                {
                    circuit.OnOpened(args.Outcome.Exception?.Message ?? "failures", args.BreakDuration);
                    return ValueTask.CompletedTask;
                },
                OnClosed = _ =>
                {
                    circuit.OnClosed();
                    return ValueTask.CompletedTask;
                },
            })
            .AddTimeout(options.AttemptTimeout)
            .Build();
    }

    /// <summary>
    /// The route's result when the pipeline itself ended a send: the circuit is open, or the attempt or the whole timed
    /// out. Null for the upstream's own failures, which each kind of upstream describes.
    /// </summary>
    public static UpstreamResult? PipelineResult(Exception exception) => exception switch
    {
        BrokenCircuitException open => UpstreamResult.Unavailable($"circuit open: {open.Message}", open.RetryAfter),
        TimeoutRejectedException timeout => UpstreamResult.Failed($"timed out after {timeout.Timeout.TotalSeconds:0.###} s"),
        _ => null,
    };

    /// <summary>Runs one send through the pipeline and turns how it ended into the route's result.</summary>
    public static async Task<UpstreamResult> SendAsync(ResiliencePipeline pipeline, Func<CancellationToken, ValueTask> send, CancellationToken cancellationToken)
    {
        try
        {
            await pipeline.ExecuteAsync(send, cancellationToken).ConfigureAwait(false);
            return UpstreamResult.Succeeded();
        }
        catch (Exception ex) when (PipelineResult(ex) is { } result)
        {
            return result;
        }
        catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or UpstreamNotConnectedException or Protocols.Framing.FramingException)
        {
            return UpstreamResult.Failed(ex.Message);
        }
    }
}

/// <summary>The upstream's connection is down and did not come back within the attempt.</summary>
internal sealed class UpstreamNotConnectedException(string message) : Exception(message);
