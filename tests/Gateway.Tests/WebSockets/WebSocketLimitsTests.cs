using System.Net.WebSockets;
using System.Text;
using Gateway.Configuration;
using Gateway.Tests.Infrastructure;
using static Gateway.Tests.WebSockets.RawWebSocket;
using static Gateway.Tests.WebSockets.WebSocketClient;

namespace Gateway.Tests.WebSockets;

/// <summary>
/// A WebSocket client that breaks RFC 6455 or sends more than MaxMessageBytes is closed with the code the RFC gives,
/// on the offending frame's header, counted and logged as what it did; it gets what it was owed first, costs the gateway
/// no more than the limit, and costs other clients nothing. Frames are written by hand on a TCP socket.
/// </summary>
public abstract class WebSocketLimitsTests(TransportKind transport)
{
    private const int MaxMessageBytes = 1000;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private static readonly string[] s_settings = [$"Gateway:Http:WebSocket:MaxMessageBytes={MaxMessageBytes}"];

    /// <summary>Each offence: the frames that commit it, the close code, the reason counted and the words of the log line.</summary>
    private static readonly Dictionary<string, (Action<Stream> Write, int Code, string Reason, string Logged)> s_offences = new()
    {
        ["unmasked frame"] = (output => WriteFrame(output, 0x81, "hi"u8, mask: false), 1002, "protocol_violation", "client frame not masked"),
        ["reserved bit"] = (output => WriteFrame(output, 0x80 | 0x40 | 0x1, "hi"u8), 1002, "protocol_violation", "reserved bits set"),
        ["unknown opcode"] = (output => WriteFrame(output, 0x80 | 0x3, "hi"u8), 1002, "protocol_violation", "unknown opcode 0x3"),
        ["control frame over 125 bytes"] = (output => WriteFrame(output, 0x80 | 0x9, new byte[126]), 1002, "protocol_violation", "control frame over 125 bytes"),
        ["fragmented control frame"] = (output => WriteFrame(output, 0x9, "ping"u8), 1002, "protocol_violation", "fragmented control frame"),
        ["continuation without a start"] = (output => WriteFrame(output, 0x80 | 0x0, "more"u8), 1002, "protocol_violation", "continuation frame without a message"),
        ["data frame inside a fragmented message"] = (output =>
        {
            WriteFrame(output, 0x1, "part"u8);
            WriteFrame(output, 0x80 | 0x1, "new"u8);
        }, 1002, "protocol_violation", "new data frame inside a fragmented message"),
        ["invalid UTF-8"] = (output => WriteFrame(output, 0x80 | 0x1, [0x68, 0xC3, 0x28]), 1007, "protocol_violation", "invalid UTF-8 in a text message"),
        ["close code 1005"] = (output => WriteFrame(output, 0x80 | 0x8, [0x03, 0xED]), 1002, "protocol_violation", "close frame with invalid code 1005"),
        ["close frame of 1 byte"] = (output => WriteFrame(output, 0x80 | 0x8, [0x03]), 1002, "protocol_violation", "close frame with a 1-byte payload"),
        ["fragments past the limit"] = (output =>
        {
            WriteFrame(output, 0x2, new byte[100]);
            for (var i = 1; i < 11; i++) WriteFrame(output, 0x0, new byte[100]); // the eleventh fragment takes the message to 1,100 bytes
        }, 1009, "message_too_big", "a fragment announcing 100 bytes after 1000"),
    };

    public static TheoryData<string> Offences => new(s_offences.Keys);

    [Theory]
    [MemberData(nameof(Offences))]
    public async Task An_offending_frame_is_closed_with_its_code_counted_and_logged_as_what_it_is_and_a_bystander_keeps_its_traffic(string offence)
    {
        var (write, code, reason, logged) = s_offences[offence];
        await using var gateway = await TestGateway.StartAsync(transport, s_settings);
        using var bystander = await ConnectAsync(gateway, "?publish=bystander/t&subscribe=bystander/t");
        using var client = await OpenRawAsync(gateway, "?publish=abuse/t");
        var stream = client.GetStream();
        await gateway.WaitForConnectionsAsync(2);

        await stream.WriteAsync(Frames(output =>
        {
            WriteMaskedTextFrame(output, "a fine message first");
            write(output);
        }));

        Assert.Equal(code, await ReadCloseCodeAsync(stream));
        // The framework's WebSocket finds invalid UTF-8 itself, and is aborted by it: after the lingering close, ASP.NET Core
        // aborts the connection, which the socket transport does with a reset. Every other refusal ends with a FIN.
        await AnswerCloseAndReadTheEndAsync(stream, resetAllowed: offence == "invalid UTF-8");
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed"); // the bystander's is still open
        Assert.Contains($"(closed with {code})", closed.Message, StringComparison.Ordinal);
        Assert.Contains("in 20 bytes 1 messages", closed.Message, StringComparison.Ordinal); // the fine message was taken
        Assert.DoesNotContain("connection lost", closed.Message, StringComparison.Ordinal);
        Assert.Equal(1, (await gateway.RejectionsAsync("ws")).GetValueOrDefault(reason));
        Assert.Contains(gateway.Logs.Lines, line => line.Level == Microsoft.Extensions.Logging.LogLevel.Warning
            && line.Message.Contains(logged, StringComparison.Ordinal) && line.Message.Contains($"closed with {code}", StringComparison.Ordinal));

        await SendTextAsync(bystander, "still here");
        Assert.Equal((WebSocketMessageType.Text, "still here"), await ReceiveAsync(bystander));
    }

    [Fact]
    public async Task A_header_announcing_2_to_the_62_bytes_is_closed_with_1009_before_any_payload_is_sent()
    {
        await using var gateway = await TestGateway.StartAsync(transport, s_settings);
        using var client = await OpenRawAsync(gateway, "?publish=abuse/t");
        var stream = client.GetStream();

        await stream.WriteAsync(Frames(output => WriteHeader(output, 0x82, 1UL << 62)));

        using (var cts = new CancellationTokenSource(s_timeout))
        {
            var (opcode, payload) = await ReadServerFrameAsync(stream, cts.Token);
            Assert.Equal(0x8, opcode);
            Assert.Equal(1009, (payload[0] << 8) | payload[1]);
            Assert.Contains("MaxMessageBytes", Encoding.UTF8.GetString(payload, 2, payload.Length - 2), StringComparison.Ordinal);
        }

        // The payload the header announced, as far as the client gets: read and dropped until the gateway closes.
        var sending = KeepSendingAsync(stream);
        await ReadTheEndAsync(stream, resetAllowed: true);
        await sending;
        Assert.Equal(1, (await gateway.RejectionsAsync("ws")).GetValueOrDefault("message_too_big"));
        Assert.Contains(gateway.Logs.Lines, line => line.EventId.Name == "WebSocketMessageTooBig"
            && line.Message.Contains("a frame announcing 4611686018427387904 bytes", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_that_keeps_sending_after_its_bad_frame_receives_every_echo_its_close_line_counts_before_the_close_frame()
    {
        const int count = 200;
        await using var gateway = await TestGateway.StartAsync(transport, s_settings);
        using var client = await OpenRawAsync(gateway, "?publish=echo/t&subscribe=echo/t");
        var stream = client.GetStream();
        await gateway.WaitForConnectionsAsync(1);

        await stream.WriteAsync(Frames(output =>
        {
            for (var i = 0; i < count; i++) WriteMaskedTextFrame(output, $"message {i}");
            WriteFrame(output, 0x81, "unmasked"u8, mask: false);
        }));
        var sending = KeepSendingAsync(stream);

        var echoes = 0;
        using (var cts = new CancellationTokenSource(s_timeout))
        {
            while (true)
            {
                var (opcode, payload) = await ReadServerFrameAsync(stream, cts.Token);
                if (opcode == 0x8)
                {
                    Assert.Equal(1002, (payload[0] << 8) | payload[1]);
                    break;
                }

                Assert.Equal($"message {echoes++}", Encoding.UTF8.GetString(payload));
            }
        }

        await ReadTheEndAsync(stream, resetAllowed: true);
        await sending;
        var closed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionClosed");
        Assert.Equal(count, echoes);
        var bytes = Enumerable.Range(0, count).Sum(i => $"message {i}".Length);
        Assert.EndsWith($"out {bytes} bytes {count} messages", closed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_refused_client_is_read_for_its_LingerTimeout_and_closes_cleanly_with_its_close_frame()
    {
        await using var gateway = await TestGateway.StartAsync(transport, [.. s_settings, "Gateway:Http:WebSocket:LingerTimeout=00:00:30"]);
        using var client = await OpenRawAsync(gateway, "?publish=abuse/t");
        var stream = client.GetStream();
        await stream.WriteAsync(Frames(output => WriteFrame(output, 0x81, "unmasked"u8, mask: false)));
        Assert.Equal(1002, await ReadCloseCodeAsync(stream));

        // Past the default 2 s the gateway still reads what the client sends: no reset comes back.
        var junk = Frames(output => WriteMaskedFrame(output, 0x2, new byte[1000]));
        var sendingUntil = DateTime.UtcNow + TimeSpan.FromSeconds(4);
        while (DateTime.UtcNow < sendingUntil)
        {
            await stream.WriteAsync(junk);
            await Task.Delay(20);
        }

        // Its close frame ends the lingering: the connection ends with a FIN, not a reset.
        await AnswerCloseAndReadTheEndAsync(stream, resetAllowed: false);
    }

    /// <summary>The close frame's code, after any data frames the server sends first.</summary>
    private static async Task<int> ReadCloseCodeAsync(Stream stream)
    {
        using var cts = new CancellationTokenSource(s_timeout);
        while (true)
        {
            var (opcode, payload) = await ReadServerFrameAsync(stream, cts.Token);
            if (opcode == 0x8) return (payload[0] << 8) | payload[1];
        }
    }

    /// <summary>Answers the server's close frame, as a client should, then reads until the server closes the connection.</summary>
    private static async Task AnswerCloseAndReadTheEndAsync(Stream stream, bool resetAllowed)
    {
        await stream.WriteAsync(Frames(output => WriteMaskedFrame(output, 0x8, [0x03, 0xE8])));
        await ReadTheEndAsync(stream, resetAllowed);
    }

    /// <summary>
    /// Reads until the server ends the connection: cleanly once the client stopped sending; with a reset when the client
    /// was still sending as the gateway's lingering close ran out (<paramref name="resetAllowed"/>).
    /// </summary>
    private static async Task ReadTheEndAsync(Stream stream, bool resetAllowed)
    {
        using var cts = new CancellationTokenSource(s_timeout);
        var buffer = new byte[4096];
        try
        {
            while (await stream.ReadAsync(buffer, cts.Token) > 0)
            {
            }
        }
        catch (IOException) when (resetAllowed)
        {
        }
    }

    /// <summary>Writes 4 KiB of zeros at a time until the server closes the connection (a write then fails), or 16 MiB.</summary>
    private static async Task KeepSendingAsync(Stream stream)
    {
        await Task.Yield();
        var junk = new byte[4096];
        try
        {
            for (var i = 0; i < 4096; i++) await stream.WriteAsync(junk);
        }
        catch (IOException)
        {
            // The gateway closed the connection, after its lingering close.
        }
    }
}

public sealed class WebSocketLimitsTestsOnEpoll() : WebSocketLimitsTests(TransportKind.Epoll);

public sealed class WebSocketLimitsTestsOnSockets() : WebSocketLimitsTests(TransportKind.Sockets);
