using System.Net.Sockets;
using System.Text;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Limits;

/// <summary>An endpoint filled to MaxConnections, on each transport: what a peer beyond it sees, and what the operator sees.</summary>
public abstract class ConnectionCapTests(TransportKind transport)
{
    private const int Cap = 3;
    private const int Refused = 40;

    private static readonly string[] s_settings =
    [
        "Gateway:Endpoints:echo:Port=0",
        "Gateway:Endpoints:echo:Framing:Kind=Line",
        "Gateway:Endpoints:echo:Publish=echo/{connectionId}",
        "Gateway:Endpoints:echo:Subscribe:0=echo/{connectionId}",
        $"Gateway:Endpoints:echo:MaxConnections={Cap}",
    ];

    [Fact]
    public async Task Connections_beyond_the_cap_read_a_clean_end_and_are_counted_in_full_and_logged_a_bounded_number_of_times()
    {
        await using var gateway = await TestGateway.StartAsync(transport, s_settings);
        var admitted = new List<FramedClient>();
        for (var i = 0; i < Cap; i++) admitted.Add(await FramedClient.ConnectAsync(gateway.EndPointOf("echo")));
        await gateway.WaitForConnectionsAsync(Cap);

        for (var i = 0; i < Refused; i++)
        {
            using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(gateway.EndPointOf("echo"));
            // A clean refusal is the end of the stream (a FIN), not a reset.
            Assert.Equal(0, await socket.ReceiveAsync(new byte[16]).WaitAsync(TimeSpan.FromSeconds(10)));
        }

        foreach (var (client, i) in admitted.Select((client, i) => (client, i)))
        {
            await client.SendLineAsync($"still here {i}");
            Assert.Equal($"still here {i}", await client.ReadLineAsync());
        }

        Assert.Equal(Refused, (await gateway.RejectionsAsync("echo"))["max_connections"]);
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains($"gateway_rejections_total{{otel_scope_name=\"Gateway\",gateway_endpoint=\"echo\",gateway_protocol=\"tcp\",gateway_rejection_reason=\"max_connections\"}} {Refused}", metrics);

        var lines = gateway.Logs.Lines.Where(line => line.EventId.Name == "ConnectionRefused").ToList();
        Assert.InRange(lines.Count, 1, 10);
        Assert.Contains("MaxConnections (3) are open (1 refused on echo as max_connections so far)", lines[0].Message);
        foreach (var client in admitted) await client.DisposeAsync();
    }
}

public sealed class ConnectionCapTestsOnEpoll() : ConnectionCapTests(TransportKind.Epoll);

public sealed class ConnectionCapTestsOnSockets() : ConnectionCapTests(TransportKind.Sockets);
