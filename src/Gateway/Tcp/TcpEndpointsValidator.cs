using Gateway.Configuration;
using Gateway.Protocols.Framing;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gateway.Tcp;

/// <summary>Checks every TCP and Unix socket endpoint under <c>Gateway:Endpoints</c>.</summary>
internal sealed class TcpEndpointsValidator : GatewayOptionsCheck
{
    protected override void Check(GatewayOptions options, List<string> errors)
    {
        foreach (var (name, endpoint) in options.Endpoints)
        {
            if (endpoint.Protocol == EndpointProtocol.Tcp) CheckEndpoint($"{Root}:Endpoints:{name}", endpoint, errors);
        }
    }

    private static void CheckEndpoint(string path, EndpointOptions endpoint, List<string> errors)
    {
        if (endpoint.Port is null == string.IsNullOrEmpty(endpoint.UnixSocketPath))
            errors.Add($"{path} must set exactly one of Port and UnixSocketPath.");
        if (endpoint.Port is { } port)
            CheckPort(port, $"{path}:Port", errors);
        CheckAddress(endpoint.Address, $"{path}:Address", errors);

        foreach (var framingError in FrameCodecFactory.Validate(endpoint.Framing))
            errors.Add($"{path}:{framingError}");

        var clientIdUsedBy = CheckTemplates(path, endpoint, errors);
        if (clientIdUsedBy is not null && endpoint.Tls?.ClientCertificateMode != ClientCertificateMode.RequireCertificate)
            errors.Add($"{path}:{clientIdUsedBy} uses {{clientId}}, which needs a client certificate on every connection: set {path}:Tls:ClientCertificateMode to RequireCertificate.");
        if (endpoint.Tls is not null)
            CheckTls($"{path}:Tls", endpoint.Tls, errors);
        if (endpoint.IdleTimeout < TimeSpan.Zero)
            errors.Add($"{path}:IdleTimeout must not be negative (was {endpoint.IdleTimeout}); 0 turns the idle timeout off.");
        if (endpoint.MaxConnections <= 0)
            errors.Add($"{path}:MaxConnections must be positive (was {endpoint.MaxConnections}).");
        errors.AddRange(endpoint.Limits.Validate($"{path}:Limits", canPause: true));
        if (endpoint.FrameTimeout < TimeSpan.Zero)
            errors.Add($"{path}:FrameTimeout must not be negative (was {endpoint.FrameTimeout}); 0 turns it off.");
        CheckOutbox(endpoint.Outbox, path, errors);
        if (endpoint.DrainTimeout < TimeSpan.Zero)
            errors.Add($"{path}:DrainTimeout must not be negative (was {endpoint.DrainTimeout}).");
        if (endpoint.LingerTimeout < TimeSpan.Zero)
            errors.Add($"{path}:LingerTimeout must not be negative (was {endpoint.LingerTimeout}); 0 turns lingering off.");
    }
}
