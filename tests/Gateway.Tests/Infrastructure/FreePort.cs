using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// For a process (a gateway, a nats-server) whose ports the test must know before it starts: a loopback TCP port that is
/// free now and that nothing else in this test run is handed.
/// </summary>
/// <remarks>
/// The port is picked below the kernel's ephemeral range (net.ipv4.ip_local_port_range), where outgoing connections and
/// port-0 listeners take theirs: a port from that range, released a moment ago, was seen taken by another test's
/// connection before the gateway process could bind it ("Gateway:Http:Port ... is already in use"). Below it only
/// other callers of this class pick ports, and they never get the same one twice.
/// </remarks>
internal static class FreePort
{
    private const int Lowest = 10_000;

    private static readonly Lock s_lock = new();
    private static readonly HashSet<int> s_given = [];
    private static readonly int s_belowEphemeral = FirstEphemeralPort() - 1;

    public static int Next()
    {
        lock (s_lock)
        {
            // Too small a range below the ephemeral one (an unusual setting): let the kernel pick, as before.
            var candidates = s_belowEphemeral - Lowest;
            for (var attempt = 0; candidates > 1_000 && attempt < 100; attempt++)
            {
                var port = Lowest + Random.Shared.Next(candidates);
                if (s_given.Contains(port) || !IsFree(port)) continue;
                s_given.Add(port);
                return port;
            }

            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var picked = ((IPEndPoint)listener.LocalEndpoint).Port;
            s_given.Add(picked);
            return picked;
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FirstEphemeralPort()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(range[0]);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32_768; // Linux's default
        }
    }
}
