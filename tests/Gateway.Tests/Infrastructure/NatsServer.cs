using System.Net.Sockets;
using System.Text;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// A real nats-server (Debian's package, which scripts/test.sh installs) on a loopback port of its own, which a test
/// can stop and start again on the same port to play a broker fault.
/// </summary>
internal sealed class NatsServer : IAsyncDisposable
{
    private readonly string[] _arguments;
    private ProcessRunner? _process;

    private NatsServer(int port, string[] arguments)
    {
        Port = port;
        _arguments = arguments;
    }

    public int Port { get; }

    public string Url => $"nats://127.0.0.1:{Port}";

    /// <summary>What the server printed (it logs to standard error).</summary>
    public string Log => _process?.StandardError ?? "";

    /// <param name="arguments">More nats-server options: credentials, TLS, a cluster's routes.</param>
    public static async Task<NatsServer> StartAsync(params string[] arguments) => await StartAsync(FreePort.Next(), arguments);

    public static async Task<NatsServer> StartAsync(int port, params string[] arguments)
    {
        var server = new NatsServer(port, arguments);
        await server.StartAgainAsync();
        return server;
    }

    /// <summary>Starts the server (again) on its port; returns once it sends its INFO line to a client.</summary>
    public async Task StartAgainAsync()
    {
        _process = ProcessRunner.Start("nats-server", ["-a", "127.0.0.1", "-p", Port.ToString(), .. _arguments]);
        await Eventually.TrueAsync(async () =>
        {
            try
            {
                using var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", Port);
                var buffer = new byte[4];
                var read = await client.GetStream().ReadAtLeastAsync(buffer, 4, throwOnEndOfStream: false);
                return Encoding.ASCII.GetString(buffer, 0, read) == "INFO";
            }
            catch (SocketException)
            {
                return false;
            }
        }, $"nats-server listening on {Port}; its log:\n{Log}");
    }

    /// <summary>Kills the server, as a crash would.</summary>
    public async Task StopAsync()
    {
        if (_process is { } process) await process.DisposeAsync();
        _process = null;
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}
