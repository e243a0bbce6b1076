using System.Net.WebSockets;
using Gateway.WebSockets;

namespace Gateway.UnitTests.WebSockets;

/// <summary>
/// The guard follows client frames as they pass, whole or a byte at a time, and stops the first one that breaks a rule
/// on its header, letting through exactly the frames before it.
/// </summary>
public sealed class ClientFrameGuardTests
{
    private const int MaxMessageBytes = 1000;
    private const byte Fin = 0x80;

    [Theory]
    [InlineData(0)]
    [InlineData(125)] // the largest 7-bit length
    [InlineData(126)] // the first 16-bit length
    [InlineData(1000)]
    public void Frames_within_the_rules_pass_whole_however_they_are_cut(int length)
    {
        var bytes = Concat(Frame(Fin | 0x1, new byte[length]), Frame(Fin | 0x9, "ping"u8.ToArray()), Frame(Fin | 0x2, new byte[3]),
            Frame(Fin | 0xA, []), CloseFrame(1000, "bye"));

        foreach (var cut in new[] { bytes.Length, 1, 7 })
        {
            var guard = new ClientFrameGuard(MaxMessageBytes);
            Assert.Equal(bytes.Length, InspectInPieces(guard, bytes, cut));
            Assert.Null(guard.Violation);
        }
    }

    [Fact]
    public void A_fragmented_message_passes_up_to_the_limit_and_its_fragments_may_carry_control_frames()
    {
        var bytes = Concat(Frame(0x1, new byte[400]), Frame(Fin | 0x9, []), Frame(0x0, new byte[400]), Frame(Fin | 0x0, new byte[200]),
            Frame(Fin | 0x2, new byte[MaxMessageBytes]));
        var guard = new ClientFrameGuard(MaxMessageBytes);

        Assert.Equal(bytes.Length, guard.Inspect(bytes));
        Assert.Null(guard.Violation);
    }

    public static TheoryData<string, byte[], WebSocketCloseStatus, string> Violations => new()
    {
        { "unmasked", Frame(Fin | 0x1, "hi"u8.ToArray(), mask: false), WebSocketCloseStatus.ProtocolError, "client frame not masked" },
        { "reserved bit", Frame(Fin | 0x40 | 0x1, "hi"u8.ToArray()), WebSocketCloseStatus.ProtocolError, "reserved bits set with no extension agreed" },
        { "unknown opcode", Frame(Fin | 0x3, []), WebSocketCloseStatus.ProtocolError, "unknown opcode 0x3" },
        { "control over 125", Frame(Fin | 0x9, new byte[126]), WebSocketCloseStatus.ProtocolError, "control frame over 125 bytes" },
        { "fragmented control", Frame(0x9, []), WebSocketCloseStatus.ProtocolError, "fragmented control frame" },
        { "orphan continuation", Frame(Fin | 0x0, "x"u8.ToArray()), WebSocketCloseStatus.ProtocolError, "continuation frame without a message to continue" },
        { "data inside fragments", Concat(Frame(0x1, "a"u8.ToArray()), Frame(Fin | 0x1, "b"u8.ToArray())), WebSocketCloseStatus.ProtocolError, "new data frame inside a fragmented message" },
        { "1-byte close", Frame(Fin | 0x8, [0x03]), WebSocketCloseStatus.ProtocolError, "close frame with a 1-byte payload" },
        { "close code 1005", CloseFrame(1005, ""), WebSocketCloseStatus.ProtocolError, "close frame with invalid code 1005" },
        { "close code 999", CloseFrame(999, "x"), WebSocketCloseStatus.ProtocolError, "close frame with invalid code 999" },
        { "announces 2^62", Header(Fin | 0x2, 1UL << 62), WebSocketCloseStatus.MessageTooBig, "a frame announcing 4611686018427387904 bytes, over Gateway:Http:WebSocket:MaxMessageBytes (1000 bytes)" },
        { "fragments over the limit", Concat(Frame(0x2, new byte[600]), Header(0x0, 401)), WebSocketCloseStatus.MessageTooBig, "a fragment announcing 401 bytes after 600, over Gateway:Http:WebSocket:MaxMessageBytes (1000 bytes)" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void The_first_frame_against_the_rules_is_stopped_on_its_header_with_the_frames_before_it_let_through(
        string name, byte[] offending, WebSocketCloseStatus status, string problem)
    {
        var before = Frame(Fin | 0x1, "valid"u8.ToArray());
        // Whatever follows the offending frame's header: its payload, the next frames, never looked at.
        var bytes = Concat(before, offending, new byte[64]);

        var offendingStart = before.Length + LastFrameStart(offending);
        foreach (var cut in new[] { bytes.Length, 1, 5 })
        {
            var guard = new ClientFrameGuard(MaxMessageBytes);
            var allowed = InspectInPieces(guard, bytes, cut);
            Assert.True(guard.Violation is not null, name);
            Assert.Equal((status, problem), (guard.Violation.Status, guard.Violation.Problem));
            // In pieces, the offending header's first bytes may have passed before its last one arrived; never more of it.
            if (cut == bytes.Length)
                Assert.Equal(offendingStart, allowed);
            else
                Assert.InRange(allowed, offendingStart, offendingStart + 15);
        }
    }

    [Fact]
    public void A_header_announcing_more_than_the_limit_is_stopped_before_any_of_its_payload_arrives()
    {
        var guard = new ClientFrameGuard(MaxMessageBytes);

        Assert.Equal(0, guard.Inspect(Header(Fin | 0x2, MaxMessageBytes + 1)));

        Assert.Equal(WebSocketCloseStatus.MessageTooBig, guard.Violation?.Status);
    }

    [Fact]
    public void After_a_violation_frames_are_only_followed_until_the_clients_close_frame()
    {
        var guard = new ClientFrameGuard(MaxMessageBytes);
        guard.Inspect(Frame(Fin | 0x1, "x"u8.ToArray(), mask: false));

        // An unmasked frame more, then the client's answer to our close frame.
        guard.Inspect(Frame(Fin | 0x1, new byte[300], mask: false));
        Assert.False(guard.PeerClosed);
        guard.Inspect(CloseFrame(1002, ""));

        Assert.True(guard.PeerClosed);
        Assert.Equal("client frame not masked", guard.Violation?.Problem);
    }

    [Fact]
    public void A_guard_told_to_stop_checking_follows_frames_to_the_clients_close()
    {
        var guard = new ClientFrameGuard(MaxMessageBytes);
        guard.StopChecking();

        guard.Inspect(Concat(Frame(Fin | 0x1, new byte[5000]), CloseFrame(1000, "")));

        Assert.True(guard.PeerClosed);
        Assert.Null(guard.Violation);
    }

    private static int InspectInPieces(ClientFrameGuard guard, byte[] bytes, int pieceLength)
    {
        var allowed = 0;
        for (var at = 0; at < bytes.Length; at += pieceLength)
        {
            var piece = bytes.AsSpan(at, Math.Min(pieceLength, bytes.Length - at));
            var passed = guard.Inspect(piece);
            allowed += passed;
            if (passed < piece.Length) break; // the stream lets nothing more through
        }

        return allowed;
    }

    /// <summary>Where the last frame of <paramref name="frames"/> begins (the offending one of two).</summary>
    private static int LastFrameStart(byte[] frames)
    {
        var at = 0;
        while (true)
        {
            var length = frames[at + 1] & 0x7F;
            var header = 2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + ((frames[at + 1] & 0x80) != 0 ? 4 : 0);
            long payload = length == 126 ? (frames[at + 2] << 8) | frames[at + 3] : length == 127 ? int.MaxValue : length;
            if (at + header + payload >= frames.Length) return at;
            at += header + (int)payload;
        }
    }

    private static byte[] CloseFrame(int code, string reason) =>
        Frame(Fin | 0x8, [(byte)(code >> 8), (byte)code, .. System.Text.Encoding.UTF8.GetBytes(reason)]);

    /// <summary>A client frame: its header, then the payload masked (or not, to break the rule).</summary>
    private static byte[] Frame(int first, byte[] payload, bool mask = true)
    {
        byte[] key = [0x12, 0x34, 0x56, 0x78];
        var header = Header(first, (ulong)payload.Length, mask ? key : []);
        var masked = payload.Select((b, i) => mask ? (byte)(b ^ key[i % 4]) : b);
        return [.. header, .. masked];
    }

    /// <summary>A client frame's header alone, announcing <paramref name="length"/> payload bytes; an empty key leaves it unmasked.</summary>
    private static byte[] Header(int first, ulong length, byte[]? key = null)
    {
        key ??= [0x12, 0x34, 0x56, 0x78];
        var maskBit = key.Length > 0 ? 0x80 : 0;
        var header = new List<byte> { (byte)first };
        if (length < 126)
        {
            header.Add((byte)(maskBit | (int)length));
        }
        else if (length <= ushort.MaxValue)
        {
            header.AddRange([(byte)(maskBit | 126), (byte)(length >> 8), (byte)length]);
        }
        else
        {
            header.Add((byte)(maskBit | 127));
            for (var shift = 56; shift >= 0; shift -= 8) header.Add((byte)(length >> shift));
        }

        header.AddRange(key);
        return [.. header];
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(part => part).ToArray();
}
