using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Messaging;
using Polly;

namespace Gateway.Routing;

/// <summary>
/// A UDP upstream: each message is one datagram from a socket connected to the service, and each datagram it sends back
/// is an answer for the reply topic. The connected socket hears the "port unreachable" of a service that is down: the
/// next send fails, is retried, and counts towards the circuit breaker.
/// </summary>
internal sealed class UdpUpstream : IUpstream
{
    private readonly IPEndPoint _target;
    private readonly ResiliencePipeline _pipeline;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stopping = new();
    private Task _receiving = Task.CompletedTask;

    public UdpUpstream(string route, RouteOptions options, UpstreamCircuit circuit)
    {
        UdpTargetAddress.TryParse(options.To.Address, out var target);
        _target = target!;
        Circuit = circuit;
        _pipeline = UpstreamResilience.Build(options, circuit);
        _socket = new Socket(_target.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        Destination = "udp://" + options.To.Address;
    }

    public string Destination { get; }

    public UpstreamCircuit Circuit { get; }

    public async Task StartAsync(Action<byte[]> onAnswer, CancellationToken cancellationToken)
    {
        await _socket.ConnectAsync(_target, cancellationToken).ConfigureAwait(false);
        _receiving = Task.Run(() => ReceiveAnswersAsync(onAnswer), CancellationToken.None);
    }

    public Task<UpstreamResult> SendAsync(Message message, CancellationToken cancellationToken) =>
        UpstreamResilience.SendAsync(_pipeline, async token => await _socket.SendAsync(message.Payload, SocketFlags.None, token).ConfigureAwait(false),
            cancellationToken);

    private async Task ReceiveAnswersAsync(Action<byte[]> onAnswer)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(UdpEndpointOptions.MaxPossibleDatagramSize);
        var token = _stopping.Token;
        while (!token.IsCancellationRequested)
        {
            try
            {
                var received = await _socket.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
                onAnswer(buffer.AsSpan(0, received).ToArray());
            }
            catch (SocketException)
            {
                // "Port unreachable" of a send, reported here too: the send side counts it.
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
