using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Messaging;
using Polly;

namespace Gateway.Routing;

/// <summary>
/// A UDP upstream: each message is one datagram from a socket connected to the service, and each datagram it sends back
/// is an answer for the reply topic. The connected socket hears the "port unreachable" of a service that is down; from
/// then on each send is a probe that waits a round trip for another refusal, and fails (is retried, counts towards the
/// circuit breaker) when one comes, until a probe meets none or the service sends something.
/// </summary>
/// <remarks>
/// The kernel reports an ICMP error once, to the first operation on the socket: the receive loop, always waiting, is
/// nearly always that one, so a send alone would never see the service is down. The datagram that drew the first
/// refusal has already counted as sent: UDP cannot tell it was lost.
/// </remarks>
internal sealed class UdpUpstream : IUpstream
{
    // A refusal comes back within a round trip, and the receive loop hears it at once unless the thread pool is busy;
    // a probe waits this long for one (it ends as soon as one comes), which only the first send to a service that is back pays.
    private static readonly TimeSpan s_maxProbeWait = TimeSpan.FromSeconds(1);

    private readonly IPEndPoint _target;
    private readonly ResiliencePipeline _pipeline;
    private readonly Socket _socket;
    private readonly TimeSpan _probeWait;
    private readonly CancellationTokenSource _stopping = new();
    private Task _receiving = Task.CompletedTask;
    private TaskCompletionSource _refused = NewSignal();
    private volatile bool _unreachable;

    public UdpUpstream(RouteOptions options, UpstreamCircuit circuit)
    {
        HostPort.TryParseIPEndPoint(options.To.Address, out var target);
        _target = target!;
        Circuit = circuit;
        _pipeline = UpstreamResilience.Build(options, circuit);
        // Within the attempt's timeout, or a probe of a service that is back would time out.
        _probeWait = TimeSpan.FromTicks(Math.Min(s_maxProbeWait.Ticks, options.AttemptTimeout.Ticks / 2));
        _socket = new Socket(_target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
    }

    public string Destination => Circuit.Destination;

    public UpstreamCircuit Circuit { get; }

    /// <summary>Whether the service was last heard refusing datagrams (ICMP port unreachable): each send is a probe then.</summary>
    public bool IsUnreachable => _unreachable;

    public async Task StartAsync(Action<byte[]> onAnswer, CancellationToken cancellationToken)
    {
        await _socket.ConnectAsync(_target, cancellationToken).ConfigureAwait(false);
        _receiving = Task.Run(() => ReceiveAnswersAsync(onAnswer), CancellationToken.None);
    }

    public Task<UpstreamResult> SendAsync(Message message, CancellationToken cancellationToken) =>
        UpstreamResilience.SendAsync(_pipeline, token => SendDatagramAsync(message.Payload, token), cancellationToken);

    private async ValueTask SendDatagramAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        // Decided before sending: the refusal of this very datagram may be heard before the send returns.
        var probing = _unreachable;
        var refused = Volatile.Read(ref _refused).Task;
        try
        {
            await _socket.SendAsync(payload, SocketFlags.None, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex) when (IsUnreachableError(ex.SocketErrorCode))
        {
            // The refusal of an earlier datagram, which this send met before the receive loop did; this one was not sent.
            OnUnreachable();
            throw;
        }

        if (!probing) return;
        try
        {
            await refused.WaitAsync(_probeWait, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // No refusal within a round trip and more: the service is back.
            _unreachable = false;
            return;
        }

        throw new SocketException((int)SocketError.ConnectionRefused);
    }

    private void OnUnreachable()
    {
        _unreachable = true;
        Interlocked.Exchange(ref _refused, NewSignal()).TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static bool IsUnreachableError(SocketError error) =>
        error is SocketError.ConnectionRefused or SocketError.ConnectionReset or SocketError.HostUnreachable or SocketError.NetworkUnreachable;

    private async Task ReceiveAnswersAsync(Action<byte[]> onAnswer)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(UdpEndpointOptions.MaxPossibleDatagramSize);
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                var received = await _socket.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
                // The service is there.
                _unreachable = false;
                onAnswer(buffer.AsSpan(0, received).ToArray());
            }
            catch (SocketException ex) when (IsUnreachableError(ex.SocketErrorCode))
            {
                // The ICMP error of a datagram sent: the sends that follow are probes until it stops.
                OnUnreachable();
            }
            catch (SocketException)
            {
                // Nothing to do with the service's state; the loop goes on.
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _receiving.ConfigureAwait(false);
        _stopping.Dispose();
    }
}
