using Gateway.Configuration;

namespace Gateway.Udp;

/// <summary>
/// Checks every UDP endpoint under <c>Gateway:Endpoints</c>. UDP has no framing, connections or Unix sockets: only its
/// own <c>Udp</c> section and the shared settings apply.
/// </summary>
internal sealed class UdpEndpointsValidator : GatewayOptionsCheck
{
    // Linux's floor for a socket buffer is about 2 KiB; below 1 KiB a setting is surely a mistake of units.
    private const int MinSocketBufferSize = 1024;

    protected override void Check(GatewayOptions options, List<string> errors)
    {
        foreach (var (name, endpoint) in options.Endpoints)
        {
            if (endpoint.Protocol == EndpointProtocol.Udp) CheckEndpoint($"{Root}:Endpoints:{name}", endpoint, errors);
        }
    }

    private static void CheckEndpoint(string path, EndpointOptions endpoint, List<string> errors)
    {
        if (endpoint.Port is { } port)
            CheckPort(port, $"{path}:Port", errors);
        else
            errors.Add($"{path}:Port is required for a UDP endpoint (0 picks a free one).");
        if (endpoint.UnixSocketPath is not null)
            errors.Add($"{path}:UnixSocketPath is not supported by UDP endpoints; remove it.");
        CheckAddress(endpoint.Address, $"{path}:Address", errors);
        CheckTemplates(path, endpoint, errors);
        CheckOutbox(endpoint.Outbox, path, errors);

        var udp = endpoint.Udp;
        var udpPath = $"{path}:Udp";
        if (udp.MaxDatagramSize is < 1 or > UdpEndpointOptions.MaxPossibleDatagramSize)
            errors.Add($"{udpPath}:MaxDatagramSize must be between 1 and {UdpEndpointOptions.MaxPossibleDatagramSize} (was {udp.MaxDatagramSize}).");
        if (udp.PeerIdleTimeout <= TimeSpan.Zero)
            errors.Add($"{udpPath}:PeerIdleTimeout must be positive (was {udp.PeerIdleTimeout}).");
        if (udp.MaxPeers <= 0)
            errors.Add($"{udpPath}:MaxPeers must be positive (was {udp.MaxPeers}).");
        if (udp.ReceiveBufferSize < MinSocketBufferSize)
            errors.Add($"{udpPath}:ReceiveBufferSize must be at least {MinSocketBufferSize} bytes (was {udp.ReceiveBufferSize}).");
        if (udp.SendBufferSize < MinSocketBufferSize)
            errors.Add($"{udpPath}:SendBufferSize must be at least {MinSocketBufferSize} bytes (was {udp.SendBufferSize}).");
        errors.AddRange(endpoint.Limits.Validate($"{path}:Limits", canPause: false));
    }
}
