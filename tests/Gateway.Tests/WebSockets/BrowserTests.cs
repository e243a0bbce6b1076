using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.WebSockets;

/// <summary>A real browser: headless Chromium opens the gateway's demo page, which connects to /ws.</summary>
public sealed class BrowserTests
{
    [Fact]
    public async Task Headless_chromium_sees_a_message_published_over_tcp()
    {
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Endpoints:lines:Port=0",
            "Gateway:Endpoints:lines:Framing:Kind=Line",
            "Gateway:Endpoints:lines:Publish=demo/tcp",
            "Gateway:Endpoints:lines:Subscribe:0=browser/echo");
        await using var device = await FramedClient.ConnectAsync(gateway.EndPointOf("lines"));
        await gateway.WaitForConnectionsAsync(1);

        // The page subscribes to demo/#, announces itself on browser/echo, and answers each message there.
        var page = $"{gateway.HttpAddress}demo?subscribe=demo/%23&publish=browser/echo&echo=1";
        var profile = Directory.CreateTempSubdirectory("chromium-").FullName;
        await using var browser = ProcessRunner.Start("chromium",
        [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            $"--user-data-dir={profile}", page,
        ]);

        Assert.Equal("ready", await device.ReadLineAsync(TimeSpan.FromSeconds(60)));
        await device.SendLineAsync("hello, browser");
        Assert.Equal("got: hello, browser", await device.ReadLineAsync(TimeSpan.FromSeconds(20)));
    }
}
