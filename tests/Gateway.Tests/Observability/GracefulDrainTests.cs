using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Net.WebSockets;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.WebSockets.WebSocketClient;

namespace Gateway.Tests.Observability;

/// <summary>SIGTERM to a real gateway process in the middle of traffic: what was accepted is delivered, then everything closes.</summary>
public sealed class GracefulDrainTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Sigterm_mid_traffic_delivers_what_was_accepted_closes_everyone_and_says_so()
    {
        var environment = GatewayProcessEnvironment.OnFreePorts(out var httpPort);
        var linesPort = FreePort.Next();
        environment["Gateway__Shutdown__DrainTimeout"] = "00:00:10";
        environment["Gateway__Endpoints__lines__Port"] = linesPort.ToString();
        environment["Gateway__Endpoints__lines__Framing__Kind"] = "Line";
        environment["Gateway__Endpoints__lines__Publish"] = "lines/{connectionId}";
        environment["Gateway__Endpoints__lines__Subscribe__0"] = "lines/{connectionId}";
        await using var gateway = ProcessRunner.Start("dotnet", [RepositoryPaths.GatewayDll], environment);
        await gateway.WaitForOutputAsync(output => output.Contains("Endpoint lines listening", StringComparison.Ordinal), s_timeout);

        await using var device = await FramedClient.ConnectAsync(new IPEndPoint(IPAddress.Loopback, linesPort));
        using var watcher = new ClientWebSocket();
        await watcher.ConnectAsync(new Uri($"ws://127.0.0.1:{httpPort}/ws?subscribe=lines/%23"), CancellationToken.None);
        // Both subscribed (the admin API lists a connection once it is) before the first line.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        await Eventually.TrueAsync(async () => (await http.GetFromJsonAsync<JsonElement>("/api/connections")).GetArrayLength() == 2, "both connections listed");
        var sent = 0;
        // The device keeps sending, a line a millisecond, until the gateway stops taking them.
        var sending = Task.Run(async () =>
        {
            try
            {
                for (; sent < 100_000; sent++)
                {
                    await device.SendLineAsync(sent.ToString());
                    await Task.Delay(1);
                }
            }
            catch (IOException)
            {
                // The gateway closed the connection.
            }
        });
        await Eventually.TrueAsync(() => sent >= 300, "300 lines sent");

        await using (var kill = ProcessRunner.Start("kill", ["-TERM", gateway.Id.ToString()]))
            await kill.WaitForExitAsync(s_timeout);

        var echoed = await ReadLinesUntilClosedAsync(device);
        var watched = await ReceiveUntilClosedAsync(watcher);
        Assert.Equal(0, await gateway.WaitForExitAsync(s_timeout));
        await sending;

        // Each side got an unbroken run from the first line: nothing accepted into its outbox was lost.
        Assert.True(echoed.Count >= 300, $"echoed {echoed.Count}");
        Assert.Equal(Enumerable.Range(0, echoed.Count).Select(i => i.ToString()), echoed);
        Assert.True(watched.Count >= 300, $"watched {watched.Count}");
        Assert.Equal(Enumerable.Range(0, watched.Count).Select(i => i.ToString()), watched);
        Assert.Equal(WebSocketCloseStatus.EndpointUnavailable, watcher.CloseStatus);
        Assert.Contains("Shutting down: not ready, accepting no new connections; 2 open connections", gateway.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("2 connections closed after draining, 0 cut off", gateway.StandardOutput, StringComparison.Ordinal);
    }

    private static async Task<List<string>> ReadLinesUntilClosedAsync(FramedClient client)
    {
        var lines = new List<string>();
        try
        {
            while (true) lines.Add(await client.ReadLineAsync(s_timeout));
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException)
        {
            return lines;
        }
    }

    private static async Task<List<string>> ReceiveUntilClosedAsync(ClientWebSocket socket)
    {
        var texts = new List<string>();
        while (true)
        {
            var (type, text) = await ReceiveAsync(socket);
            if (type == WebSocketMessageType.Close) return texts;
            texts.Add(text);
        }
    }
}
