using System.Buffers;
using System.Net;
using System.Net.Sockets;
using Gateway.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gateway.UnitTests.Transport;

/// <summary>The epoll transport's half-close (<see cref="IHalfCloseFeature"/>), which a lingering close stands on.</summary>
public sealed class EpollHalfCloseTests
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Closing_the_output_sends_what_it_holds_then_FIN_while_the_peers_bytes_still_arrive()
    {
        using var transport = new EpollTransportFactory(new EpollTransportOptions(1, InlineScheduling: false), new SharedPoolFactory(),
            NullLogger<EpollTransportFactory>.Instance);
        await using var listener = await transport.BindAsync(new EpollEndPoint(new IPEndPoint(IPAddress.Loopback, 0)));
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.EndPoint);
        await using var connection = (await listener.AcceptAsync())!;

        await connection.Transport.Output.WriteAsync("owed"u8.ToArray());
        await connection.Features.Get<IHalfCloseFeature>()!.CloseOutputAsync().WaitAsync(s_timeout);

        // The peer reads the bytes, then the end of the stream ...
        var buffer = new byte[16];
        var received = 0;
        int read;
        while ((read = await client.ReceiveAsync(buffer.AsMemory(received)).AsTask().WaitAsync(s_timeout)) > 0) received += read;
        Assert.Equal("owed"u8.ToArray(), buffer[..received]);

        // ... and what it sends after that still reaches the connection's input, then its own FIN ends it.
        await client.SendAsync("more"u8.ToArray());
        client.Shutdown(SocketShutdown.Send);
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(s_timeout);
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (!result.IsCompleted) continue;
            Assert.Equal("more"u8.ToArray(), result.Buffer.ToArray());
            break;
        }
    }
}
