using System.Diagnostics.CodeAnalysis;

namespace Gateway.Routing.Tunnels;

/// <summary><c>Gateway:Tunnels:Connect:Allow</c>, parsed: the only destinations a <c>CONNECT</c> may reach.</summary>
internal sealed class ConnectAllowList(IOptions<Configuration.GatewayOptions> gateway)
{
    // Validated at start: every entry parses.
    private readonly HostPort[] _allowed =
        [.. gateway.Value.Tunnels.Connect.Allow.Select(entry => HostPort.TryParse(entry, out var address) ? address.Value : default)];

    /// <summary>Whether <c>CONNECT</c> is on: the list is not empty.</summary>
    public bool IsEnabled => _allowed.Length > 0;

    /// <summary>
    /// Whether <paramref name="target"/>, a request's authority, names a listed destination as it is written there (the
    /// host without regard to case). A name is never resolved to compare it: "localhost:22" is not "127.0.0.1:22".
    /// </summary>
    public bool Allows(string target, [NotNullWhen(true)] out HostPort? destination)
    {
        destination = null;
        if (!HostPort.TryParse(target, out var requested)) return false;
        foreach (var allowed in _allowed)
        {
            if (!allowed.Matches(requested.Value)) continue;
            destination = allowed;
            return true;
        }

        return false;
    }

    /// <summary>The list as configured, for the start-up line.</summary>
    public IEnumerable<HostPort> Destinations => _allowed;
}
