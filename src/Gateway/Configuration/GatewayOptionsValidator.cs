using Gateway.Protocols.Framing;
using Gateway.Protocols.Topics;
using Microsoft.Extensions.Options;

namespace Gateway.Configuration;

/// <summary>
/// Checks the whole <c>Gateway</c> section at start and reports every problem at once,
/// each naming the setting by its configuration path so the user knows what to change.
/// </summary>
internal sealed class GatewayOptionsValidator(IConfiguration configuration) : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        const string root = GatewayOptions.SectionName;
        ReportUnboundEndpoints(options, errors);

        if (!ListenAddress.IsValid(options.DefaultAddress))
            errors.Add($"{root}:DefaultAddress '{options.DefaultAddress}' is not an IP address, 'localhost' or '*'.");
        ValidateAddress(options.Http.Address, $"{root}:Http:Address", errors);
        ValidatePort(options.Http.Port, $"{root}:Http:Port", errors);
        if (options.Transport.IOQueueCount is < 0 or > 64)
            errors.Add($"{root}:Transport:IOQueueCount must be between 0 and 64 (was {options.Transport.IOQueueCount}).");

        var ports = new Dictionary<int, string>();
        if (options.Http.Port > 0) ports[options.Http.Port] = $"{root}:Http";

        foreach (var (endpointName, endpoint) in options.Endpoints)
        {
            var path = $"{root}:Endpoints:{endpointName}";
            ValidateEndpoint(path, endpoint, errors);
            if (endpoint.Enabled && endpoint.Port is > 0 and var port && !ports.TryAdd(port, path))
                errors.Add($"{path}:Port {port} is also used by {ports[port]}.");
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void ValidateEndpoint(string path, EndpointOptions endpoint, List<string> errors)
    {
        if (endpoint.Port is null == string.IsNullOrEmpty(endpoint.UnixSocketPath))
            errors.Add($"{path} must set exactly one of Port and UnixSocketPath.");
        if (endpoint.Port is { } port)
            ValidatePort(port, $"{path}:Port", errors);
        ValidateAddress(endpoint.Address, $"{path}:Address", errors);

        foreach (var framingError in FrameCodecFactory.Validate(endpoint.Framing))
            errors.Add($"{path}:{framingError}");

        if (endpoint.Publish is not null && !TryParseTemplate(endpoint.Publish, TemplateKind.Topic, out var publishError))
            errors.Add($"{path}:Publish: {publishError}");
        for (var i = 0; i < endpoint.Subscribe.Count; i++)
        {
            if (!TryParseTemplate(endpoint.Subscribe[i], TemplateKind.Filter, out var subscribeError))
                errors.Add($"{path}:Subscribe:{i}: {subscribeError}");
        }

        if (endpoint.IdleTimeout is { } idle && idle <= TimeSpan.Zero)
            errors.Add($"{path}:IdleTimeout must be positive (was {idle}); leave it unset for no timeout.");
        if (endpoint.MaxConnections <= 0)
            errors.Add($"{path}:MaxConnections must be positive (was {endpoint.MaxConnections}).");
        if (endpoint.Outbox.Capacity <= 0)
            errors.Add($"{path}:Outbox:Capacity must be positive (was {endpoint.Outbox.Capacity}).");
        if (endpoint.DrainTimeout < TimeSpan.Zero)
            errors.Add($"{path}:DrainTimeout must not be negative (was {endpoint.DrainTimeout}).");
    }

    /// <summary>
    /// The binder skips a dictionary entry it cannot convert (an unknown enum value, a misspelt key)
    /// instead of failing, which would make a bad endpoint silently vanish. Bind such an entry again
    /// on its own to get the binder's message, which names the key.
    /// </summary>
    private void ReportUnboundEndpoints(GatewayOptions options, List<string> errors)
    {
        foreach (var section in configuration.GetSection($"{GatewayOptions.SectionName}:Endpoints").GetChildren())
        {
            if (options.Endpoints.ContainsKey(section.Key)) continue;
            try
            {
                section.Get<EndpointOptions>(ConfigurationBinding.Strict);
                errors.Add($"{section.Path} could not be read.");
            }
            catch (InvalidOperationException ex)
            {
                errors.Add(ex.Message);
            }
        }
    }

    private static bool TryParseTemplate(string template, TemplateKind kind, out string? error)
    {
        try
        {
            TopicTemplate.Parse(template, kind);
            error = null;
            return true;
        }
        catch (TopicException ex)
        {
            error = ex.Message;
            return false;
        }
    }

    private static void ValidateAddress(string? address, string path, List<string> errors)
    {
        if (address is not null && !ListenAddress.IsValid(address))
            errors.Add($"{path} '{address}' is not an IP address, 'localhost' or '*'.");
    }

    private static void ValidatePort(int port, string path, List<string> errors)
    {
        if (port is < 0 or > 65535)
            errors.Add($"{path} must be between 0 and 65535 (was {port}).");
    }
}
