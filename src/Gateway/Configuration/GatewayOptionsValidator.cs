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

        CheckLocalhostWithFreePort($"{Root}:Http", options.Http.Address ?? options.DefaultAddress, options.Http.Port, errors);
        if (options.Https.IsEnabled)
            CheckLocalhostWithFreePort($"{Root}:Https", options.Https.Address ?? options.DefaultAddress, options.Https.Port, errors);
        foreach (var (name, endpoint) in options.Endpoints)
        {
            if (endpoint is { Enabled: true, Protocol: EndpointProtocol.Tcp, Port: { } port })
                CheckLocalhostWithFreePort($"{Root}:Endpoints:{name}", endpoint.Address ?? options.DefaultAddress, port, errors);
        }

        // A TCP and a UDP listener may share a port number: they are different protocols' ports.
        var ports = new Dictionary<(EndpointProtocol, int), string>();
        if (options.Http.Port > 0) ports[(EndpointProtocol.Tcp, options.Http.Port)] = $"{Root}:Http";
        if (options.Https is { IsEnabled: true, Port: > 0 } && !ports.TryAdd((EndpointProtocol.Tcp, options.Https.Port), $"{Root}:Https"))
            errors.Add($"{Root}:Https:Port {options.Https.Port} is also used by {Root}:Http.");
        foreach (var (name, endpoint) in options.Endpoints)
        {
            var path = $"{Root}:Endpoints:{name}";
            if (endpoint.Enabled && endpoint.Port is > 0 and var port && !ports.TryAdd((endpoint.Protocol, port), path))
                errors.Add($"{path}:Port {port} is also used by {ports[(endpoint.Protocol, port)]}.");
        }
    }

    /// <summary>
    /// A TCP listener on "localhost" is two sockets, IPv4's loopback and IPv6's, and a port the system picks (0) cannot be
    /// the same for both: Kestrel refuses it with an exception at bind time; this names the setting before anything binds.
    /// (A UDP endpoint binds one socket, IPv4's loopback, so port 0 there is fine.)
    /// </summary>
    private static void CheckLocalhostWithFreePort(string path, string address, int port, List<string> errors)
    {
        if (port == 0 && address == ListenAddress.Localhost)
            errors.Add($"{path}:Port 0 (a free port) cannot be used with the address 'localhost', which listens on IPv4 and IPv6 loopback: set {path}:Address or {Root}:DefaultAddress to 127.0.0.1 or ::1, or pick a port.");
    }
}
