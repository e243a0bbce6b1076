using System.Globalization;
using System.Net.Sockets;
using System.Net.WebSockets;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.WebSockets.RawWebSocket;
using static Gateway.Tests.WebSockets.WebSocketClient;

namespace Gateway.Tests.WebSockets;

/// <summary>
/// A hundred abusive WebSocket clients cost the gateway at most MaxMessageBytes and 64 KB each more than as many idle ones:
/// the growth of the resident memory (<c>VmRSS</c>) of a gateway running as its own process, from the sockets open and idle
/// to the sockets having sent all their abuse and the gateway having read it, while a bystander keeps its traffic. (What
/// an open connection costs at all is what MaxConnections bounds.) Measured as <see cref="AbuseMemory"/> says, on the
/// test run's transport.
/// </summary>
public sealed class WebSocketMemoryTests
{
    private const int MaxMessageBytes = 256 * 1024;
    private const int Peers = AbuseMemory.Peers;
    private const long AllowedPerPeer = MaxMessageBytes + AbuseMemory.Allowance;

    [Theory]
    [InlineData("a header announcing 2^62 bytes, then twice the limit of payload")]
    [InlineData("a message cut 4 KiB below the limit and left hanging")]
    [InlineData("a message fragmented without end")]
    public async Task A_hundred_abusive_sockets_cost_at_most_MaxMessageBytes_and_64_KB_each_and_a_bystander_keeps_its_traffic(string abuse)
    {
        await using var gateway = await GatewayProcess.StartAsync(
            [$"Gateway:Http:WebSocket:MaxMessageBytes={MaxMessageBytes}"], waitForBackplane: false);
        using var bystander = new ClientWebSocket();
        await bystander.ConnectAsync(new Uri($"ws://127.0.0.1:{gateway.HttpPort}/ws?publish=bystander/t&subscribe=bystander/t"), CancellationToken.None);
        await RoundTripAsync(bystander, "before");

        var (growth, clients) = await AbuseMemory.GrowthAsync(gateway, count => OpenAsync(gateway, count),
            peers => AbuseMemory.CommitEachAsync(peers, gateway.HttpPort, stream => CommitAsync(stream, abuse)), AbuseMemory.CloseAsync, () => RoundTripAsync(bystander, "meanwhile"));

        Assert.True(growth <= Peers * AllowedPerPeer,
            $"{Peers} sockets with {abuse} grew the gateway's resident memory by {growth:N0} bytes, over {Peers} × {AllowedPerPeer:N0}");
        await AbuseMemory.CloseAsync(clients);
        await RoundTripAsync(bystander, "after");
    }

    private static async Task<List<TcpClient>> OpenAsync(GatewayProcess gateway, int peers)
    {
        var clients = new List<TcpClient>();
        for (var i = 0; i < peers; i++) clients.Add(await OpenRawAsync(gateway.HttpPort, "?publish=abuse/t"));
        return clients;
    }

    private static async Task CommitAsync(Stream stream, string abuse)
    {
        try
        {
            if (abuse.StartsWith("a header announcing", StringComparison.Ordinal))
            {
                await stream.WriteAsync(Frames(output => WriteHeader(output, 0x82, 1UL << 62)));
                await stream.WriteAsync(new byte[2 * MaxMessageBytes - 4096]);
            }
            else if (abuse.StartsWith("a message cut", StringComparison.Ordinal))
            {
                await stream.WriteAsync(Frames(output => WriteHeader(output, 0x82, MaxMessageBytes)));
                await stream.WriteAsync(new byte[MaxMessageBytes - 4096]);
            }
            else
            {
                // 16 KiB fragments, none of them final, one past the limit: the gateway refuses that one on its header.
                await stream.WriteAsync(Frames(output => WriteFrame(output, 0x02, new byte[16 * 1024])));
                for (var sent = 16 * 1024; sent <= MaxMessageBytes; sent += 16 * 1024)
                    await stream.WriteAsync(Frames(output => WriteFrame(output, 0x00, new byte[16 * 1024])));
            }
        }
        catch (IOException)
        {
            // The gateway closed the connection after its lingering close: it reads nothing more.
        }
    }

    private static async Task RoundTripAsync(ClientWebSocket bystander, string text)
    {
        await SendTextAsync(bystander, text);
        Assert.Equal((WebSocketMessageType.Text, text), await ReceiveAsync(bystander));
    }
}
