using System.Net.WebSockets;

namespace Gateway.HostileTests;

/// <summary>
/// Many clients breaking RFC 6455 in each of its ways at once: each is closed with the code the RFC gives, every refusal
/// is counted (<c>protocol_violation</c>, <c>message_too_big</c>), the log stays bounded and a bystander keeps its echo.
/// </summary>
public sealed class WebSocketAbuseTests(ITestOutputHelper output)
{
    private const int MaxMessageBytes = 64 * 1024;
    private static readonly byte[] s_mask = [0x37, 0xfa, 0x21, 0x3d];

    /// <summary>Each violation: the bytes that commit it and the close code it gets.</summary>
    private static readonly (string Name, byte[] Frames, int Code)[] s_violations =
    [
        ("unmasked frame", Frame(0x81, "hi"u8, mask: false), 1002),
        ("reserved bit", Frame(0x80 | 0x40 | 0x1, "hi"u8), 1002),
        ("unknown opcode", Frame(0x80 | 0x3, "hi"u8), 1002),
        ("control frame over 125 bytes", Frame(0x80 | 0x9, new byte[126]), 1002),
        ("fragmented control frame", Frame(0x9, "ping"u8), 1002),
        ("continuation without a message", Frame(0x80, "more"u8), 1002),
        ("data frame inside a fragmented message", [.. Frame(0x1, "part"u8), .. Frame(0x80 | 0x1, "new"u8)], 1002),
        ("close frame with code 1005", Frame(0x80 | 0x8, [0x03, 0xED]), 1002),
        ("invalid UTF-8", Frame(0x80 | 0x1, [0x68, 0xC3, 0x28]), 1007),
        ("a header announcing 2^62 bytes", Header(0x82, 1UL << 62), 1009),
    ];

    [Fact]
    public async Task Every_RFC_6455_violation_at_scale_gets_its_close_code_and_is_counted_while_a_bystander_keeps_its_echo()
    {
        var clientsPerViolation = HostileScale.Of(10, 100);
        await using var gateway = await HostileGateway.StartAsync($"Gateway:Http:WebSocket:MaxMessageBytes={MaxMessageBytes}");
        using var bystander = new ClientWebSocket();
        await bystander.ConnectAsync(new Uri($"ws://127.0.0.1:{gateway.HttpPort}/ws?publish=bystander/t&subscribe=bystander/t"), CancellationToken.None);
        await AssertEchoAsync(bystander, "before");
        var baseline = gateway.ResidentBytes();
        var linesBefore = gateway.LogLines;

        var attacks = new List<Task<(string Name, int Expected, int Got)>>();
        foreach (var (name, frames, code) in s_violations)
        {
            for (var i = 0; i < clientsPerViolation; i++)
                attacks.Add(Task.Run(async () => (name, code, await CloseCodeAfterAsync(gateway.HttpPort, frames))));
        }

        await gateway.SampleMemoryUntilAsync(Task.WhenAll(attacks));
        await AssertEchoAsync(bystander, "after");
        await gateway.AssertAliveAsync();
        var results = attacks.Select(attack => attack.Result).ToList();
        var violations = results.Count(result => result.Expected != 1009);
        var tooBig = results.Count - violations;
        await Eventually.TrueAsync(async () => await gateway.RejectionsAsync("ws", "protocol_violation") == violations
            && await gateway.RejectionsAsync("ws", "message_too_big") == tooBig, "every violation is counted");
        var lines = gateway.LogLines - linesBefore;
        Figures.Report(output, "WebSocket abuse", ("clients", results.Count), ("protocol_violation counted", await gateway.RejectionsAsync("ws", "protocol_violation")),
            ("message_too_big counted", await gateway.RejectionsAsync("ws", "message_too_big")), ("log lines", lines),
            ("RSS before", Figures.Megabytes(baseline)), ("RSS peak", Figures.Megabytes(gateway.PeakResidentBytes)));

        Assert.All(results, result => Assert.True(result.Expected == result.Got, $"{result.Name}: closed with {result.Got}, not {result.Expected}"));
        // Each client's handshake, open and close lines (a client costs a handshake), and the violation lines: at most 10
        // per kind in the 10 s the attack lasts, and the summaries.
        Assert.True(lines <= 3 * results.Count + 10 * s_violations.Length + 20, $"{lines} log lines for {results.Count} clients");
    }

    /// <summary>Opens a WebSocket by hand, sends a fine message then <paramref name="frames"/>; returns the code of the server's close frame.</summary>
    private static async Task<int> CloseCodeAfterAsync(int port, byte[] frames)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, port).WaitAsync(TimeSpan.FromSeconds(10));
        var stream = client.GetStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            "GET /ws?publish=abuse/t HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), timeout.Token);
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one, timeout.Token) == 1) head.Append((char)one[0]);
        Assert.StartsWith("HTTP/1.1 101", head.ToString());

        byte[] input = [.. Frame(0x81, "a fine message first"u8), .. frames];
        await stream.WriteAsync(input, timeout.Token);
        while (true)
        {
            var frameHead = new byte[2];
            await stream.ReadExactlyAsync(frameHead, timeout.Token);
            var length = (long)(frameHead[1] & 0x7F);
            if (length >= 126)
            {
                var extended = new byte[length == 126 ? 2 : 8];
                await stream.ReadExactlyAsync(extended, timeout.Token);
                length = 0;
                foreach (var b in extended) length = (length << 8) | b;
            }

            var payload = new byte[length];
            await stream.ReadExactlyAsync(payload, timeout.Token);
            if ((frameHead[0] & 0x0F) == 0x8) return (payload[0] << 8) | payload[1];
        }
    }

    private static async Task AssertEchoAsync(ClientWebSocket client, string text)
    {
        await client.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = await client.ReceiveAsync(buffer, timeout.Token);
        Assert.Equal(text, Encoding.UTF8.GetString(buffer, 0, received.Count));
    }

    /// <summary>A client frame of any first byte (FIN, reserved bits, opcode), masked unless told otherwise.</summary>
    private static byte[] Frame(int first, ReadOnlySpan<byte> payload, bool mask = true)
    {
        byte[] head = Header(first, (ulong)payload.Length, mask);
        var frame = new byte[head.Length + payload.Length];
        head.CopyTo(frame, 0);
        for (var i = 0; i < payload.Length; i++) frame[head.Length + i] = mask ? (byte)(payload[i] ^ s_mask[i % 4]) : payload[i];
        return frame;
    }

    /// <summary>A client frame's header alone, announcing <paramref name="length"/> payload bytes.</summary>
    private static byte[] Header(int first, ulong length, bool mask = true)
    {
        var head = new List<byte> { (byte)first };
        var maskBit = mask ? 0x80 : 0;
        if (length < 126)
        {
            head.Add((byte)(maskBit | (int)length));
        }
        else if (length <= ushort.MaxValue)
        {
            head.AddRange([(byte)(maskBit | 126), (byte)(length >> 8), (byte)length]);
        }
        else
        {
            head.Add((byte)(maskBit | 127));
            for (var shift = 56; shift >= 0; shift -= 8) head.Add((byte)(length >> shift));
        }

        if (mask) head.AddRange(s_mask);
        return [.. head];
    }
}
