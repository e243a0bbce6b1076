using Gateway.Configuration;

namespace Gateway.Routing.Tunnels;

/// <summary>Checks <c>Gateway:Tunnels</c>: every allowed destination and bridge target is host:port, and the timeout is positive.</summary>
internal sealed class TunnelsValidator : GatewayOptionsCheck
{
    private const string Expected = "is not host:port (an IPv4 address, an [IPv6 address] or a host name, and a port from 1 to 65535)";

    protected override void Check(GatewayOptions options, List<string> errors)
    {
        var tunnels = options.Tunnels;
        var path = $"{Root}:Tunnels";
        for (var i = 0; i < tunnels.Connect.Allow.Count; i++)
        {
            if (!HostPort.TryParse(tunnels.Connect.Allow[i], out _))
                errors.Add($"{path}:Connect:Allow:{i} '{tunnels.Connect.Allow[i]}' {Expected}.");
        }

        foreach (var (name, bridge) in tunnels.Bridges)
        {
            if (bridge.Target is null)
                errors.Add($"{path}:Bridges:{name}:Target is required: the host:port every WebSocket of /tunnel/{name} is connected to.");
            else if (!HostPort.TryParse(bridge.Target, out _))
                errors.Add($"{path}:Bridges:{name}:Target '{bridge.Target}' {Expected}.");
        }

        if (tunnels.ConnectTimeout <= TimeSpan.Zero)
            errors.Add($"{path}:ConnectTimeout must be positive (was {tunnels.ConnectTimeout}).");

        // The tunnels' sessions are counted under these endpoint names; a configured endpoint of the same name would share their totals.
        foreach (var name in TunnelEndpointCatalog.NamesInUse(tunnels))
        {
            if (options.Endpoints.ContainsKey(name))
                errors.Add($"{Root}:Endpoints:{name} has the name of the tunnels' endpoint; rename it, or turn off {path}:{(name == ConnectTunnel.EndpointName ? "Connect" : "Bridges")}.");
        }
    }
}
