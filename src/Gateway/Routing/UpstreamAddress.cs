using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Gateway.Routing;

/// <summary>Parses "host:port" of a TCP upstream: a name (resolved when connecting), an IPv4 address, or "[IPv6]".</summary>
internal static class UpstreamAddress
{
    public static bool TryParse(string? value, [NotNullWhen(true)] out string? host, out int port)
    {
        host = null;
        port = 0;
        if (string.IsNullOrEmpty(value)) return false;
        var colon = value.LastIndexOf(':');
        if (colon <= 0
            || !int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port)
            || port is < 1 or > 65535)
            return false;

        var name = value[..colon];
        if (name is ['[', .. var inner, ']']) name = inner;
        if (name.Length == 0 || name.Any(char.IsWhiteSpace) || (name.Contains(':') && !System.Net.IPAddress.TryParse(name, out _))) return false;
        host = name;
        return true;
    }
}
