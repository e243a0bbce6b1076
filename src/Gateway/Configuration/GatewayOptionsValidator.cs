namespace Gateway.Configuration;

/// <summary>
/// The part of the <c>Gateway</c> section's validation no single capability owns: keys that are not settings and values
/// that do not convert, the default address, the shutdown drain, and ports used twice across capabilities. Each
/// capability checks its own section (<see cref="GatewayOptionsCheck"/>).
/// </summary>
internal sealed class GatewayOptionsValidator(IConfiguration configuration) : GatewayOptionsCheck
{
    protected override void Check(GatewayOptions options, List<string> errors)
    {
        // Keys that are not settings and values that do not convert, which the binder left out (ConfigurationBinding).
        foreach (var problem in SettingsShape.Check(configuration.GetSection(Root), typeof(GatewayOptions)))
            errors.Add(problem.Message);

        if (!ListenAddress.IsValid(options.DefaultAddress))
            errors.Add($"{Root}:DefaultAddress '{options.DefaultAddress}' is not an IP address, 'localhost' or '*'.");
        if (options.Shutdown.DrainTimeout <= TimeSpan.Zero)
            errors.Add($"{Root}:Shutdown:DrainTimeout must be positive (was {options.Shutdown.DrainTimeout}).");

        // Each listener once: its port against those before it, and a free port asked for on "localhost".
        var ports = new Dictionary<(EndpointProtocol, int), string>();
        CheckListener(options, $"{Root}:Http", EndpointProtocol.Tcp, options.Http.Address, options.Http.Port, ports, errors);
        if (options.Https.IsEnabled)
            CheckListener(options, $"{Root}:Https", EndpointProtocol.Tcp, options.Https.Address, options.Https.Port, ports, errors);
        foreach (var (name, endpoint) in options.Endpoints)
        {
            if (endpoint is { Enabled: true, Port: { } port })
                CheckListener(options, $"{Root}:Endpoints:{name}", endpoint.Protocol, endpoint.Address, port, ports, errors);
        }
    }

    /// <summary>
    /// A port used by an earlier listener of the same protocol (a TCP and a UDP listener may share a number: they are
    /// different protocols' ports), and port 0 on "localhost" for TCP: a TCP listener there is two sockets, IPv4's
    /// loopback and IPv6's, and a port the system picks cannot be the same for both; Kestrel refuses it with an
    /// exception at bind time, this names the setting before anything binds. (A UDP endpoint binds one socket, IPv4's
    /// loopback, so port 0 there is fine.)
    /// </summary>
    private static void CheckListener(GatewayOptions options, string path, EndpointProtocol protocol, string? address, int port,
        Dictionary<(EndpointProtocol, int), string> ports, List<string> errors)
    {
        if (port == 0 && protocol == EndpointProtocol.Tcp && (address ?? options.DefaultAddress) == ListenAddress.Localhost)
            errors.Add($"{path}:Port 0 (a free port) cannot be used with the address 'localhost', which listens on IPv4 and IPv6 loopback: set {path}:Address or {Root}:DefaultAddress to 127.0.0.1 or ::1, or pick a port.");
        if (port > 0 && !ports.TryAdd((protocol, port), path))
            errors.Add($"{path}:Port {port} is also used by {ports[(protocol, port)]}.");
    }
}
