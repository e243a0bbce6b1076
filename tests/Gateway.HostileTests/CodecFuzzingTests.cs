using System.Buffers.Binary;

namespace Gateway.HostileTests;

/// <summary>
/// Mutated and random input on every framing (a length field of 1, 2 and 4 bytes, a delimiter, lines, fixed length):
/// the gateway stays up, each fuzzing connection ends (echoed what was whole, or closed for a framing error that is
/// counted), memory is bounded and a well-behaved client of each framing keeps its echoes.
/// </summary>
public sealed class CodecFuzzingTests(ITestOutputHelper output)
{
    private const int MaxFrameSize = 200;

    /// <summary>Each framing: its settings, and how a valid frame of it is written.</summary>
    private static readonly (string Name, string[] Framing, Func<byte[], byte[]> Frame)[] s_framings =
    [
        ("len1", ["Kind=LengthField", "LengthFieldSize=1"], body => [(byte)body.Length, .. body]),
        ("len2", ["Kind=LengthField", "LengthFieldSize=2"], body => LengthPrefixed(body, 2)),
        ("len4", ["Kind=LengthField", "LengthFieldSize=4"], body => LengthPrefixed(body, 4)),
        ("delim", ["Kind=Delimiter", "Delimiter=|"], body => [.. body, (byte)'|']),
        ("line", ["Kind=Line"], body => [.. body, (byte)'\n']),
        ("fixed", ["Kind=FixedLength", "FrameLength=16"], body => body.Length == 16 ? body : Pad(body, 16)),
    ];

    [Fact]
    public async Task Mutated_and_random_frames_on_every_framing_never_crash_the_gateway_each_connection_ends_and_bystanders_keep_their_echoes()
    {
        var connectionsPerFraming = HostileScale.Of(100, 2_000);
        var seed = Environment.TickCount;
        await using var gateway = await HostileGateway.StartAsync(Settings());
        var bystanders = new Dictionary<string, FramedClient>();
        foreach (var (name, _, frame) in s_framings)
        {
            bystanders[name] = await FramedClient.ConnectAsync(await gateway.EndPointOfAsync(name));
            await AssertEchoAsync(bystanders[name], frame, $"before-{name}");
        }

        var baseline = gateway.ResidentBytes();
        var echoed = 0;
        var cut = 0;
        var tasks = new List<Task>();
        foreach (var (name, _, frame) in s_framings)
        {
            var endpoint = await gateway.EndPointOfAsync(name);
            for (var worker = 0; worker < 4; worker++)
            {
                var random = new Random(seed + tasks.Count);
                tasks.Add(Task.Run(async () =>
                {
                    for (var i = 0; i < connectionsPerFraming / 4; i++)
                    {
                        var received = await FuzzOneAsync(endpoint, Fuzz(random, frame));
                        Interlocked.Increment(ref received > 0 ? ref echoed : ref cut);
                    }
                }));
            }
        }

        await gateway.SampleMemoryUntilAsync(Task.WhenAll(tasks));
        foreach (var (name, _, frame) in s_framings) await AssertEchoAsync(bystanders[name], frame, $"after-{name}");

        await gateway.AssertAliveAsync();
        double framingErrors = 0;
        foreach (var (name, _, _) in s_framings)
        {
            await Eventually.TrueAsync(async () => await gateway.ConnectionsAsync(name) == 1, $"only the bystander is left on {name}", TimeSpan.FromSeconds(30));
            framingErrors += await gateway.EndpointMetricAsync("gateway_framing_errors_total", name);
        }

        var total = connectionsPerFraming / 4 * 4 * s_framings.Length;
        var growth = gateway.ResidentBytes() - baseline;
        Figures.Report(output, "codec fuzzing", ("seed", seed.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("connections", total), ("echoed something", echoed), ("framing errors counted", (long)framingErrors),
            ("RSS before", Figures.Megabytes(baseline)), ("RSS after", Figures.Megabytes(baseline + growth)), ("RSS peak", Figures.Megabytes(gateway.PeakResidentBytes)),
            ("log lines", gateway.LogLines));
        // Every connection ended with a FIN after its input; what it left cut or broke is a framing error, counted once.
        Assert.InRange(framingErrors, 1, total);
        Assert.True(gateway.PeakResidentBytes - baseline < 64L << 20, $"fuzzing grew the resident memory to a peak {gateway.PeakResidentBytes - baseline:N0} bytes over its baseline");
        Assert.True(gateway.LogLines < 200 + 2 * total, $"{gateway.LogLines} log lines"); // an open and a close line each, and the throttled errors
        foreach (var bystander in bystanders.Values) await bystander.DisposeAsync();
    }

    private static string[] Settings()
    {
        var settings = new List<string>();
        foreach (var (name, framing, _) in s_framings)
        {
            settings.Add($"Gateway:Endpoints:{name}:Port=0");
            settings.Add($"Gateway:Endpoints:{name}:Publish=fuzz/{name}/{{connectionId}}");
            settings.Add($"Gateway:Endpoints:{name}:Subscribe:0=fuzz/{name}/{{connectionId}}");
            settings.Add($"Gateway:Endpoints:{name}:Framing:MaxFrameSize={MaxFrameSize}");
            foreach (var setting in framing) settings.Add($"Gateway:Endpoints:{name}:Framing:{setting}");
        }

        return [.. settings];
    }

    /// <summary>Three valid frames, mutated (bytes flipped, inserted, removed, the end cut), or bytes at random.</summary>
    private static byte[] Fuzz(Random random, Func<byte[], byte[]> frame)
    {
        if (random.Next(4) == 0)
        {
            var noise = new byte[random.Next(1, 3 * MaxFrameSize)];
            random.NextBytes(noise);
            return noise;
        }

        var bytes = new List<byte>();
        for (var i = 0; i < 3; i++) bytes.AddRange(frame(Encoding.ASCII.GetBytes($"frame {i} {random.Next(1_000_000)}")));
        for (var mutations = random.Next(1, 4); mutations > 0 && bytes.Count > 0; mutations--)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(4))
            {
                case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: bytes.Insert(at, (byte)random.Next(256)); break;
                case 2: bytes.RemoveAt(at); break;
                default: bytes.RemoveRange(at, bytes.Count - at); break;
            }
        }

        return [.. bytes];
    }

    /// <summary>Sends <paramref name="input"/>, then FIN, and reads until the gateway closes; returns how many bytes came back.</summary>
    private static async Task<int> FuzzOneAsync(IPEndPoint endpoint, byte[] input)
    {
        using var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(endpoint).WaitAsync(TimeSpan.FromSeconds(10));
        var received = 0;
        try
        {
            if (input.Length > 0) await socket.SendAsync(input);
            socket.Shutdown(SocketShutdown.Send);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var buffer = new byte[4096];
            int read;
            while ((read = await socket.ReceiveAsync(buffer, timeout.Token)) > 0) received += read;
        }
        catch (SocketException)
        {
            // A reset: the gateway's lingering close ran out, or it closed before all was sent.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"The gateway left a fuzzing connection open 30 s after its input ended ({Convert.ToHexString(input)}).");
        }

        return received;
    }

    private static async Task AssertEchoAsync(FramedClient client, Func<byte[], byte[]> frame, string text)
    {
        var body = Encoding.ASCII.GetBytes(text);
        var sent = frame(body);
        await client.SendAsync(sent);
        Assert.Equal(sent, await client.ReadExactlyAsync(sent.Length));
    }

    private static byte[] LengthPrefixed(byte[] body, int size)
    {
        var frame = new byte[size + body.Length];
        if (size == 2) BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)body.Length);
        else BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, size);
        return frame;
    }

    private static byte[] Pad(byte[] body, int length)
    {
        var frame = new byte[length];
        Array.Fill(frame, (byte)' ');
        body.AsSpan(0, Math.Min(body.Length, length)).CopyTo(frame);
        return frame;
    }
}
