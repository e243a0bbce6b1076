using System.Net;
using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Limits;

/// <summary>An endpoint's accept rate and its cap of connections per source address, on each transport.</summary>
public abstract class ConnectionAdmissionTests(TransportKind transport)
{
    private static string[] Echo(params string[] extra) =>
    [
        "Gateway:Endpoints:echo:Port=0",
        "Gateway:Endpoints:echo:Framing:Kind=Line",
        "Gateway:Endpoints:echo:Publish=echo/{connectionId}",
        "Gateway:Endpoints:echo:Subscribe:0=echo/{connectionId}",
        .. extra,
    ];

    [Fact]
    public async Task One_address_gets_no_more_than_its_cap_while_another_address_still_connects()
    {
        await using var gateway = await TestGateway.StartAsync(transport, Echo("Gateway:Endpoints:echo:Limits:MaxConnectionsPerAddress=2"));
        var endPoint = gateway.EndPointOf("echo");
        await using var first = await FramedClient.ConnectAsync(endPoint);
        await using var second = await FramedClient.ConnectAsync(endPoint);
        await gateway.WaitForConnectionsAsync(2);

        Assert.True(await ConnectAndSeeEndAsync(IPAddress.Loopback, endPoint), "a third connection from 127.0.0.1 was not refused");
        using var other = await SourceAddress.ConnectFromAsync(IPAddress.Parse("127.0.0.2"), endPoint);
        await gateway.WaitForConnectionsAsync(3);
        await EchoesAsync(other, "from another address");

        // A connection that ends gives its address's place back, as its handler returns: soon after it leaves the registry.
        await first.DisposeAsync();
        Socket? again = null;
        await Eventually.TrueAsync(async () =>
        {
            var socket = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint);
            await socket.SendAsync("admitted again\n"u8.ToArray());
            if (await socket.ReceiveAsync(new byte[64]).WaitAsync(TimeSpan.FromSeconds(10)) > 0)
            {
                again = socket;
                return true;
            }

            socket.Dispose();
            return false;
        }, "a new connection from 127.0.0.1 admitted after one of its two ended");
        again!.Dispose();

        Assert.InRange((await gateway.RejectionsAsync("echo"))["max_connections_per_address"], 1, 20);
        var refusal = gateway.Logs.Lines.First(line => line.EventId.Name == "ConnectionRefused");
        Assert.Contains("127.0.0.1 holds Limits:MaxConnectionsPerAddress (2)", refusal.Message);
    }

    [Fact]
    public async Task A_storm_of_connections_beyond_the_accept_rate_is_refused_and_counted()
    {
        const int Attempts = 40;
        await using var gateway = await TestGateway.StartAsync(transport,
            Echo("Gateway:Endpoints:echo:Limits:ConnectionsPerSecond=5", "Gateway:Endpoints:echo:Limits:ConnectionBurst=5"));
        var endPoint = gateway.EndPointOf("echo");

        var admitted = new List<Socket>();
        var refused = 0;
        for (var i = 0; i < Attempts; i++)
        {
            var socket = await SourceAddress.ConnectFromAsync(IPAddress.Loopback, endPoint);
            // An admitted connection stays open: it echoes. A refused one reads the end of the stream at once.
            await socket.SendAsync("x\n"u8.ToArray());
            var buffer = new byte[16];
            if (await socket.ReceiveAsync(buffer).WaitAsync(TimeSpan.FromSeconds(10)) == 0)
            {
                refused++;
                socket.Dispose();
            }
            else
            {
                admitted.Add(socket);
            }
        }

        Assert.InRange(admitted.Count, 5, Attempts - 1);
        Assert.Equal(Attempts - admitted.Count, refused);
        Assert.Equal(refused, (await gateway.RejectionsAsync("echo"))["accept_rate"]);
        foreach (var socket in admitted) socket.Dispose();
    }

    private static async Task<bool> ConnectAndSeeEndAsync(IPAddress source, IPEndPoint endPoint)
    {
        using var socket = await SourceAddress.ConnectFromAsync(source, endPoint);
        return await socket.ReceiveAsync(new byte[16]).WaitAsync(TimeSpan.FromSeconds(10)) == 0;
    }

    private static async Task EchoesAsync(Socket socket, string line)
    {
        await socket.SendAsync(System.Text.Encoding.ASCII.GetBytes(line + "\n"));
        var buffer = new byte[line.Length + 1];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(read)).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.NotEqual(0, n);
            read += n;
        }

        Assert.Equal(line + "\n", System.Text.Encoding.ASCII.GetString(buffer));
    }

}

public sealed class ConnectionAdmissionTestsOnEpoll() : ConnectionAdmissionTests(TransportKind.Epoll);

public sealed class ConnectionAdmissionTestsOnSockets() : ConnectionAdmissionTests(TransportKind.Sockets);
