using System.Text.Json;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Interop;

/// <summary>The Node.js clients of the seed documents (003), run unchanged in their framing against the gateway.</summary>
public sealed class SeedClientInteropTests
{
    private const string SeedMessage = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Transfer_js_client_gets_its_18_packages_back_with_serial_numbers_intact()
    {
        // transfer.js: [serial:2][length:2][body]. The gateway strips nothing, so the serial travels with
        // the payload and the echo writes the header back with the length recomputed.
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Endpoints:transfer:Port=0",
            "Gateway:Endpoints:transfer:Framing:LengthFieldOffset=2",
            "Gateway:Endpoints:transfer:Framing:LengthFieldSize=2",
            "Gateway:Endpoints:transfer:Framing:InitialBytesToStrip=0",
            "Gateway:Endpoints:transfer:Framing:MaxFrameSize=32771",
            "Gateway:Endpoints:transfer:Publish=transfer/{connectionId}",
            "Gateway:Endpoints:transfer:Subscribe:0=transfer/{connectionId}");

        await using var node = ProcessRunner.Start("node", ["transfer-client.js", gateway.EndPointOf("transfer").Port.ToString()],
            workingDirectory: RepositoryPaths.SeedsInterop);
        Assert.Equal(0, await node.WaitForExitAsync(s_timeout));

        var packages = node.StandardOutput.Split('\n')
            .Where(line => line.StartsWith('{'))
            .Select(line => JsonSerializer.Deserialize<JsonElement>(line))
            .ToList();
        Assert.Equal(18, packages.Count);
        for (var i = 0; i < 18; i++)
        {
            Assert.Equal(i, packages[i].GetProperty("serialNum").GetInt32());
            Assert.Equal(SeedMessage.Length, packages[i].GetProperty("bodyLength").GetInt32());
            Assert.Equal(SeedMessage, packages[i].GetProperty("body").GetString());
        }

        Assert.Contains("client disconnected", node.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stick_module_client_publishes_18_messages_and_decodes_a_broadcast()
    {
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Endpoints:stick:Port=0",
            "Gateway:Endpoints:stick:Framing:LengthFieldSize=2",
            "Gateway:Endpoints:stick:Framing:MaxFrameSize=32767",
            "Gateway:Endpoints:stick:Publish=devices/{connectionId}/up",
            "Gateway:Endpoints:stick:Subscribe:0=devices/{connectionId}/down",
            "Gateway:Endpoints:stick:Subscribe:1=broadcast",
            "Gateway:Endpoints:console:Port=0",
            "Gateway:Endpoints:console:Framing:Kind=Line",
            "Gateway:Endpoints:console:Publish=broadcast",
            "Gateway:Endpoints:console:Subscribe:0=devices/+/up");
        await using var console = await FramedClient.ConnectAsync(gateway.EndPointOf("console"));
        await gateway.WaitForConnectionsAsync(1);

        await using var node = ProcessRunner.Start("node", ["stick-client.js", gateway.EndPointOf("stick").Port.ToString()],
            workingDirectory: RepositoryPaths.SeedsInterop);

        // The 18 sticky packets arrive at the console as 18 separate messages.
        for (var i = 0; i < 18; i++)
            Assert.Equal(SeedMessage, await console.ReadLineAsync(s_timeout));

        await console.SendLineAsync("hello, stick");
        Assert.Equal(0, await node.WaitForExitAsync(s_timeout));
        Assert.Contains("recv data: hello, stick", node.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("disconnect from server", node.StandardOutput, StringComparison.Ordinal);
    }
}
