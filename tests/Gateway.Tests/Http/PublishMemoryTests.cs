using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Http;

/// <summary>
/// A hundred abusive HTTP publishers cost the gateway at most MaxPublishBytes and 64 KB each more than as many idle
/// connections: the growth of the resident memory (<c>VmRSS</c>) of a gateway running as its own process, from the
/// connections open and idle to the requests sent and read, while a bystander keeps publishing. A body being received
/// lives in the connection's input pipe. Measured as <see cref="AbuseMemory"/> says, on the test run's transport.
/// </summary>
public sealed class PublishMemoryTests
{
    private const int MaxPublishBytes = 256 * 1024;
    private const int Peers = AbuseMemory.Peers;
    private const long AllowedPerPeer = MaxPublishBytes + AbuseMemory.Allowance;
    private const string BodyCut = "a body cut 4 KiB below the limit and left hanging";
    private const string LengthOverLimit = "a Content-Length over the limit, then twice the limit of body";
    private const string EndlessChunks = "a chunked body without end";

    [Theory]
    [InlineData(BodyCut)]
    [InlineData(LengthOverLimit)]
    [InlineData(EndlessChunks)]
    public async Task A_hundred_abusive_publishers_cost_at_most_MaxPublishBytes_and_64_KB_each_and_a_bystander_keeps_publishing(string abuse)
    {
        await using var gateway = await GatewayProcess.StartAsync(
            [$"Gateway:Http:MaxPublishBytes={MaxPublishBytes}"], waitForBackplane: false);
        using var bystander = gateway.CreateHttpClient();
        await PublishAsync(bystander, "before");

        var (growth, clients) = await AbuseMemory.GrowthAsync(gateway, count => OpenAsync(gateway, count),
            peers => AbuseMemory.CommitEachAsync(peers, gateway.HttpPort, stream => CommitAsync(stream, abuse)), AbuseMemory.CloseAsync, () => PublishAsync(bystander, "meanwhile"));

        Assert.True(growth <= Peers * AllowedPerPeer,
            $"{Peers} publishers with {abuse} grew the gateway's resident memory by {growth:N0} bytes, over {Peers} × {AllowedPerPeer:N0}");
        await AbuseMemory.CloseAsync(clients);
        await PublishAsync(bystander, "after");
    }

    private static async Task<List<TcpClient>> OpenAsync(GatewayProcess gateway, int peers)
    {
        var clients = new List<TcpClient>();
        for (var i = 0; i < peers; i++)
        {
            var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, gateway.HttpPort);
            clients.Add(client);
        }

        return clients;
    }

    private static async Task CommitAsync(Stream stream, string abuse)
    {
        try
        {
            switch (abuse)
            {
                case BodyCut:
                    await stream.WriteAsync(Head($"Content-Length: {MaxPublishBytes}"));
                    await stream.WriteAsync(new byte[MaxPublishBytes - 4096]);
                    break;
                case LengthOverLimit:
                    await stream.WriteAsync(Head($"Content-Length: {2 * MaxPublishBytes}"));
                    await stream.WriteAsync(new byte[2 * MaxPublishBytes]);
                    break;
                default:
                    // 16 KiB chunks, one past the limit: the gateway answers 413 on the one that takes the body past it.
                    await stream.WriteAsync(Head("Transfer-Encoding: chunked"));
                    byte[] chunk = [.. "4000\r\n"u8, .. new byte[16 * 1024], .. "\r\n"u8];
                    for (var sent = 0; sent <= MaxPublishBytes; sent += 16 * 1024) await stream.WriteAsync(chunk);
                    break;
            }
        }
        catch (IOException)
        {
            // The gateway answered 413 and closed the connection: it reads nothing more.
        }
    }

    private static byte[] Head(string framing) =>
        Encoding.ASCII.GetBytes($"POST /api/topics/abuse/t HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/octet-stream\r\n{framing}\r\n\r\n");

    private static async Task PublishAsync(HttpClient bystander, string text)
    {
        using var response = await bystander.PostAsync("/api/topics/bystander/t", new StringContent(text));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
