using System.Text;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Limits;

/// <summary>A framed endpoint's FrameTimeout against a TCP slowloris: a frame dribbled a byte at a time, on each transport.</summary>
public abstract class FrameTimeoutTests(TransportKind transport)
{
    private static readonly string[] s_settings =
    [
        "Gateway:Endpoints:echo:Port=0",
        "Gateway:Endpoints:echo:Framing:Kind=Line",
        "Gateway:Endpoints:echo:Publish=echo/{connectionId}",
        "Gateway:Endpoints:echo:Subscribe:0=echo/{connectionId}",
        "Gateway:Endpoints:echo:FrameTimeout=00:00:02",
    ];

    [Fact]
    public async Task A_frame_dribbled_past_the_timeout_closes_its_connection_while_one_that_completes_in_time_is_echoed()
    {
        await using var gateway = await TestGateway.StartAsync(transport, s_settings);
        await using var dribbler = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));
        await using var bystander = await FramedClient.ConnectAsync(gateway.EndPointOf("echo"));

        // The idle timeout never fires for it: a byte arrives every 300 ms, but the line never ends.
        var closed = dribbler.WaitForCloseAsync(TimeSpan.FromSeconds(20));
        for (var i = 0; i < 60 && !closed.IsCompleted; i++)
        {
            try
            {
                await dribbler.SendAsync("x"u8.ToArray());
            }
            catch (IOException)
            {
                break;
            }

            // A frame that arrives in parts but completes well within the timeout is echoed meanwhile.
            await bystander.SendAsync(Encoding.ASCII.GetBytes($"in{i}"));
            await Task.Delay(150);
            await bystander.SendAsync(Encoding.ASCII.GetBytes($" parts {i}\n"));
            Assert.Equal($"in{i} parts {i}", await bystander.ReadLineAsync());
            await Task.Delay(150);
        }

        Assert.True(await closed, "the dribbling connection was not closed");
        var line = await gateway.Logs.WaitForAsync(log => log.EventId.Name == "ConnectionClosed");
        Assert.Contains("(frame timeout: a frame begun", line.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await gateway.RejectionsAsync("echo"))["frame_timeout"]);
    }
}

public sealed class FrameTimeoutTestsOnEpoll() : FrameTimeoutTests(TransportKind.Epoll);

public sealed class FrameTimeoutTestsOnSockets() : FrameTimeoutTests(TransportKind.Sockets);
