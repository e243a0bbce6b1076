using System.Net.Sockets;
using System.Text;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Configuration;

/// <summary>The shipped appsettings.json, with its ports moved to free ones, does what the README says.</summary>
public sealed class DefaultConfigurationTests
{
    [Fact]
    public async Task Default_endpoints_echo_stick_chat_and_healthz_work_as_documented()
    {
        var socketPath = Path.Combine(Path.GetTempPath(), $"gw-{Guid.NewGuid():N}.sock");
        await using var gateway = await TestGateway.StartWithContentRootAsync(RepositoryPaths.Root,
            "Gateway:Endpoints:echo:Port=0",
            "Gateway:Endpoints:stick:Port=0",
            "Gateway:Endpoints:chat:Port=0",
            "Gateway:Endpoints:console:Port=0",
            "Gateway:Endpoints:udp:Port=0",
            "Gateway:Endpoints:chat_unix:UnixSocketPath=" + socketPath);

        await using (var echo = await FramedClient.ConnectAsync(gateway.EndPointOf("echo")))
        {
            await echo.SendAsync(FramedClient.LengthPrefixed("ping"u8));
            Assert.Equal("ping", Encoding.ASCII.GetString(await echo.ReadLengthPrefixedAsync()));
        }

        await using var stick = await FramedClient.ConnectAsync(gateway.EndPointOf("stick"));
        await using var chat = await FramedClient.ConnectAsync(gateway.EndPointOf("chat"));
        await using var unixChat = await FramedClient.ConnectAsync(new UnixDomainSocketEndPoint(socketPath));
        await gateway.WaitForConnectionsAsync(3);
        await chat.SendLineAsync("hi");
        Assert.Equal("hi", await unixChat.ReadLineAsync());

        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var health = await http.GetAsync("/healthz");
        Assert.Equal(System.Net.HttpStatusCode.OK, health.StatusCode);
    }
}
