using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Udp;

/// <summary>A real UDP socket on the loopback, sending to one gateway endpoint and reading what comes back.</summary>
internal sealed class UdpTestClient : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private readonly UdpClient _client;
    private readonly IPEndPoint _server;

    public UdpTestClient(IPEndPoint server, IPAddress? localAddress = null)
    {
        _server = server;
        var local = localAddress ?? (server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback);
        _client = new UdpClient(new IPEndPoint(local, 0));
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)_client.Client.LocalEndPoint!;

    /// <summary>How the gateway renders this sender in {remote}.</summary>
    public string Remote => LocalEndPoint.ToString();

    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] datagram) => await _client.SendAsync(datagram, _server);

    public async Task<UdpReceiveResult> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? s_timeout);
        try
        {
            return await _client.ReceiveAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"No datagram reached {LocalEndPoint} within {timeout ?? s_timeout}.");
        }
    }

    public async Task<string> ReceiveTextAsync(TimeSpan? timeout = null) => Encoding.UTF8.GetString((await ReceiveAsync(timeout)).Buffer);

    /// <summary>True when no datagram arrives within <paramref name="wait"/>.</summary>
    public async Task<bool> ReceivesNothingWithinAsync(TimeSpan wait)
    {
        using var cts = new CancellationTokenSource(wait);
        try
        {
            await _client.ReceiveAsync(cts.Token);
            return false;
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    public void Dispose() => _client.Dispose();
}
