using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gateway.Connections;
using Gateway.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Tcp;

/// <summary>
/// Thousands of idle connections on one instance, as devices keep them open: none holds an outbox array before its first
/// message or more than the two small ones after, and every one still answers after all the others have connected. bench/run-idle.sh does the same with as
/// many connections as the machine's open-file limit allows, and measures what each costs.
/// </summary>
public sealed class IdleScaleTests
{
    // In this process each connection is two descriptors, the gateway's and the client's.
    private static readonly int s_count = Math.Min(8_000, (OpenFileLimit() - 2_000) / 2);

    [Fact]
    public async Task Thousands_of_idle_connections_hold_no_outbox_capacity_and_all_answer()
    {
        Assert.True(s_count >= 1_000, $"the open-file limit allows only {s_count} connections");
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Endpoints:idle:Port=0",
            "Gateway:Endpoints:idle:Publish=idle/{connectionId}",
            "Gateway:Endpoints:idle:Subscribe:0=idle/{connectionId}",
            $"Gateway:Endpoints:idle:MaxConnections={s_count}",
            "Gateway:Endpoints:idle:IdleTimeout=00:10:00");
        var endPoint = gateway.EndPointOf("idle");
        var sockets = new Socket[s_count];
        try
        {
            // Several source addresses of this test's own, so earlier runs' closed ports (TIME_WAIT) are not in the way.
            var network = Random.Shared.Next(1, 250);
            // Each wave once the gateway has accepted the one before: a client's connect completes before the gateway
            // accepts, and waves faster than its accepts (on a busy machine) would overflow the listen backlog (512),
            // leaving connections to the kernel's SYN-ACK retries, seconds apart.
            await InWavesAsync(i => ConnectAsync(sockets, i, endPoint, new IPAddress([127, 77, (byte)network, (byte)(2 + i % 4)])),
                afterWave: gateway.WaitForConnectionsAsync);

            var sessions = gateway.Services.GetRequiredService<ConnectionRegistry>().All.Where(session => session.Endpoint == "idle").ToList();
            Assert.Equal(s_count, sessions.Count);
            Assert.All(sessions, session => Assert.Equal(0, session.Outbox!.HeldSlots));

            await InWavesAsync(i => AnswersAsync(sockets[i], $"idle {i}"));

            // Idle again: each outbox keeps only its two small arrays.
            await Eventually.TrueAsync(() => sessions.All(session => session.Outbox!.HeldSlots <= 2 * Gateway.Messaging.Outbox.SmallArraySize),
                "every outbox empty and holding only its small arrays");
        }
        finally
        {
            foreach (var socket in sockets) socket?.Dispose();
        }
    }

    /// <summary>Runs <paramref name="step"/> for every connection, 200 at a time; <paramref name="afterWave"/> gets the count done so far.</summary>
    private static async Task InWavesAsync(Func<int, Task> step, Func<int, Task>? afterWave = null)
    {
        for (var start = 0; start < s_count; start += 200)
        {
            var end = Math.Min(start + 200, s_count);
            await Task.WhenAll(Enumerable.Range(start, end - start).Select(step));
            if (afterWave is not null) await afterWave(end);
        }
    }

    private static async Task ConnectAsync(Socket[] sockets, int index, IPEndPoint endPoint, IPAddress source)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        sockets[index] = socket;
        socket.Bind(new IPEndPoint(source, 0));
        await socket.ConnectAsync(endPoint).WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Sends a 4-byte length-framed message and reads it back, unchanged, from the connection's own topic.</summary>
    private static async Task AnswersAsync(Socket socket, string text)
    {
        var body = Encoding.UTF8.GetBytes(text);
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, 4);
        await socket.SendAsync(frame);

        var answer = new byte[frame.Length];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (var read = 0; read < answer.Length;)
        {
            var received = await socket.ReceiveAsync(answer.AsMemory(read), timeout.Token);
            Assert.True(received > 0, $"the connection sending '{text}' was closed before it answered");
            read += received;
        }

        Assert.Equal(frame, answer);
    }

    /// <summary>This process's soft limit on open files (RLIMIT_NOFILE), which .NET raises to the hard limit at start.</summary>
    private static int OpenFileLimit()
    {
        var line = File.ReadLines("/proc/self/limits").First(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return soft == "unlimited" ? int.MaxValue : int.Parse(soft, System.Globalization.CultureInfo.InvariantCulture);
    }
}
