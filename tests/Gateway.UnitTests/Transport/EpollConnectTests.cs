using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.UnitTests.Transport;

/// <summary>Outbound connections on the epoll loops, as a route's HTTP pool opens them.</summary>
public sealed class EpollConnectTests
{
    private static EpollTransportFactory NewTransport() =>
        new(new EpollTransportOptions(1, InlineScheduling: true), new SharedPoolFactory(), NullLogger<EpollTransportFactory>.Instance);

    [Fact]
    public async Task An_outbound_connection_carries_bytes_both_ways_and_closing_it_ends_the_peers_read()
    {
        using var transport = NewTransport();
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();

        await using var connection = await transport.ConnectAsync(new DnsEndPoint("localhost", ((IPEndPoint)server.LocalEndpoint).Port));
        using var peer = await server.AcceptSocketAsync();

        await connection.Transport.Output.WriteAsync(Encoding.ASCII.GetBytes("ping"));
        var buffer = new byte[16];
        Assert.Equal("ping", Encoding.ASCII.GetString(buffer, 0, await peer.ReceiveAsync(buffer)));
        await peer.SendAsync(Encoding.ASCII.GetBytes("pong"));
        var read = await connection.Transport.Input.ReadAsync();
        Assert.Equal("pong", Encoding.ASCII.GetString(read.Buffer));
        connection.Transport.Input.AdvanceTo(read.Buffer.End);

        connection.Abort();
        Assert.Equal(0, await peer.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task A_refused_connect_fails_and_a_cancelled_one_ends()
    {
        using var transport = NewTransport();
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        await Assert.ThrowsAsync<SocketException>(async () => await transport.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port)));
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await transport.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cancelled.Token));
    }
}
