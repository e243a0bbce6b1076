using System.Globalization;

namespace Gateway.Tests.Infrastructure;

/// <summary>What Linux says of a process's memory and of the sockets on a port.</summary>
internal static class ProcessMemory
{
    /// <summary>VmRSS: the resident memory now.</summary>
    public static long ResidentBytes(int pid) => StatusKilobytes(pid, "VmRSS:") * 1024;

    /// <summary>Bytes the kernel received on established connections to <paramref name="port"/> that their process has not read.</summary>
    public static long UnreadBytesOnPort(int port)
    {
        long unread = 0;
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                // sl local_address rem_address st tx_queue:rx_queue ...
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var localPort = int.Parse(fields[1][(fields[1].LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (localPort != port || fields[3] != "01") continue;
                unread += long.Parse(fields[4][(fields[4].IndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
        }

        return unread;
    }

    private static long StatusKilobytes(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith(field, StringComparison.Ordinal));
        return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }
}
