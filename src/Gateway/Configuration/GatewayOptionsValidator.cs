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
}
