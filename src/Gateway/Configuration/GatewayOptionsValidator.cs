using System.Diagnostics.CodeAnalysis;
using System.Net;
using Gateway.Messaging;
using Gateway.Protocols.Framing;
using Gateway.Protocols.Topics;
using Gateway.Security;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Options;

namespace Gateway.Configuration;

/// <summary>
/// Checks the whole <c>Gateway</c> section at start and reports every problem at once,
/// each naming the setting by its configuration path so the user knows what to change.
/// </summary>
internal sealed class GatewayOptionsValidator(IConfiguration configuration) : IValidateOptions<GatewayOptions>
{
    // Linux's floor for a socket buffer is about 2 KiB; below 1 KiB a setting is surely a mistake of units.
    private const int MinSocketBufferSize = 1024;

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        const string root = GatewayOptions.SectionName;
        // Keys that are not settings and values that do not convert, which the binder left out (ConfigurationBinding).
        foreach (var problem in SettingsShape.Check(configuration.GetSection(root), typeof(GatewayOptions)))
            errors.Add(problem.Message);

        if (!ListenAddress.IsValid(options.DefaultAddress))
            errors.Add($"{root}:DefaultAddress '{options.DefaultAddress}' is not an IP address, 'localhost' or '*'.");
        ValidateAddress(options.Http.Address, $"{root}:Http:Address", errors);
        ValidatePort(options.Http.Port, $"{root}:Http:Port", errors);
        ValidateHttp(options.Http, $"{root}:Http", errors);
        if (options.Https.IsEnabled)
        {
            ValidateAddress(options.Https.Address, $"{root}:Https:Address", errors);
            ValidatePort(options.Https.Port, $"{root}:Https:Port", errors);
            ValidateTls($"{root}:Https", options.Https, errors);
        }
        if (options.Transport.IOQueueCount is < 0 or > 64)
            errors.Add($"{root}:Transport:IOQueueCount must be between 0 and 64 (was {options.Transport.IOQueueCount}).");
        if (options.Transport.EpollLoops is < 1 or > 64)
            errors.Add($"{root}:Transport:EpollLoops must be between 1 and 64 (was {options.Transport.EpollLoops}).");
        if (options.Transport.Kind == TransportKind.Epoll && !OperatingSystem.IsLinux())
            errors.Add($"{root}:Transport:Kind Epoll needs Linux; use Sockets on this system.");

        ValidateSecurity(options, $"{root}:Security", errors);
        if (options.Shutdown.DrainTimeout <= TimeSpan.Zero)
            errors.Add($"{root}:Shutdown:DrainTimeout must be positive (was {options.Shutdown.DrainTimeout}).");
        if (options.Telemetry.OtlpEndpoint is { } otlp && (!otlp.IsAbsoluteUri || otlp.Scheme is not ("http" or "https")))
            errors.Add($"{root}:Telemetry:OtlpEndpoint must be an absolute http or https address such as http://collector:4317 (was '{otlp}').");
        if (options.Telemetry.OtlpExportInterval < TimeSpan.FromSeconds(1))
            errors.Add($"{root}:Telemetry:OtlpExportInterval must be at least 1 second (was {options.Telemetry.OtlpExportInterval}).");

        // A TCP and a UDP listener may share a port number: they are different protocols' ports.
        var ports = new Dictionary<(EndpointProtocol, int), string>();
        if (options.Http.Port > 0) ports[(EndpointProtocol.Tcp, options.Http.Port)] = $"{root}:Http";
        if (options.Https is { IsEnabled: true, Port: > 0 } && !ports.TryAdd((EndpointProtocol.Tcp, options.Https.Port), $"{root}:Https"))
            errors.Add($"{root}:Https:Port {options.Https.Port} is also used by {root}:Http.");

        foreach (var (endpointName, endpoint) in options.Endpoints)
        {
            var path = $"{root}:Endpoints:{endpointName}";
            if (endpoint.Protocol == EndpointProtocol.Udp)
                ValidateUdpEndpoint(path, endpoint, options.DefaultAddress, errors);
            else
                ValidateEndpoint(path, endpoint, errors);
            if (endpoint.Enabled && endpoint.Port is > 0 and var port && !ports.TryAdd((endpoint.Protocol, port), path))
                errors.Add($"{path}:Port {port} is also used by {ports[(endpoint.Protocol, port)]}.");
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

        var clientIdUsedBy = ValidateTemplates(path, endpoint, errors);
        if (clientIdUsedBy is not null && endpoint.Tls?.ClientCertificateMode != ClientCertificateMode.RequireCertificate)
            errors.Add($"{path}:{clientIdUsedBy} uses {{clientId}}, which needs a client certificate on every connection: set {path}:Tls:ClientCertificateMode to RequireCertificate.");
        if (endpoint.Tls is not null)
            ValidateTls($"{path}:Tls", endpoint.Tls, errors);
        if (endpoint.IdleTimeout is { } idle && idle <= TimeSpan.Zero)
            errors.Add($"{path}:IdleTimeout must be positive (was {idle}); leave it unset for no timeout.");
        if (endpoint.MaxConnections <= 0)
            errors.Add($"{path}:MaxConnections must be positive (was {endpoint.MaxConnections}).");
        if (endpoint.Outbox.Capacity <= 0)
            errors.Add($"{path}:Outbox:Capacity must be positive (was {endpoint.Outbox.Capacity}).");
        if (endpoint.DrainTimeout < TimeSpan.Zero)
            errors.Add($"{path}:DrainTimeout must not be negative (was {endpoint.DrainTimeout}).");
    }

    /// <summary>UDP has no framing, connections or Unix sockets: only its own section and the shared settings apply.</summary>
    private static void ValidateUdpEndpoint(string path, EndpointOptions endpoint, string defaultAddress, List<string> errors)
    {
        if (endpoint.Port is { } port)
            ValidatePort(port, $"{path}:Port", errors);
        else
            errors.Add($"{path}:Port is required for a UDP endpoint (0 picks a free one).");
        if (endpoint.UnixSocketPath is not null)
            errors.Add($"{path}:UnixSocketPath is not supported by UDP endpoints; remove it.");
        ValidateAddress(endpoint.Address, $"{path}:Address", errors);
        ValidateTemplates(path, endpoint, errors);
        if (endpoint.Outbox.Capacity <= 0)
            errors.Add($"{path}:Outbox:Capacity must be positive (was {endpoint.Outbox.Capacity}).");

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
        if (udp.RateLimitPerSecond is <= 0)
            errors.Add($"{udpPath}:RateLimitPerSecond must be positive (was {udp.RateLimitPerSecond}); leave it unset for no limit.");
        if (udp.RateLimitBurst is { } burst)
        {
            if (udp.RateLimitPerSecond is null)
                errors.Add($"{udpPath}:RateLimitBurst needs RateLimitPerSecond; set both or neither.");
            else if (burst <= 0 || burst < udp.RateLimitPerSecond)
                errors.Add($"{udpPath}:RateLimitBurst must be at least RateLimitPerSecond ({udp.RateLimitPerSecond}) (was {burst}).");
        }

        if (udp.Target is not null)
            ValidateUdpTarget(path, endpoint, defaultAddress, errors);
    }

    private static void ValidateUdpTarget(string path, EndpointOptions endpoint, string defaultAddress, List<string> errors)
    {
        var udpPath = $"{path}:Udp";
        if (!UdpTargetAddress.TryParse(endpoint.Udp.Target, out var target))
        {
            errors.Add($"{udpPath}:Target '{endpoint.Udp.Target}' is not host:port with an IPv4 address, [IPv6 address] or localhost, and a port from 1 to 65535.");
            return;
        }

        if (endpoint.Outbox.Overflow == OverflowPolicy.Disconnect)
            errors.Add($"{path}:Outbox:Overflow Disconnect does not apply to a Udp:Target, which cannot be disconnected; use DropOldest or DropNewest.");

        // One socket sends to the target: its family must reach the target's (a dual-mode socket reaches both).
        var address = endpoint.Address ?? defaultAddress;
        if (!ListenAddress.IsValid(address)) return;
        var bound = ListenAddress.ResolveSingle(address);
        var reachable = bound.Equals(IPAddress.IPv6Any) || bound.AddressFamily == target.AddressFamily;
        if (!reachable)
            errors.Add($"{udpPath}:Target {target} cannot be reached from the endpoint's address {address} (another address family).");
    }

    /// <summary>Loads the certificate files once, so a missing or unreadable one stops the start and names its setting.</summary>
    /// <param name="path">The TLS section: an endpoint's <c>Tls</c>, or <c>Gateway:Https</c>.</param>
    private static void ValidateTls(string path, TlsOptions tls, List<string> errors)
    {
        try
        {
            CertificateFiles.LoadWithKey(tls.Certificate).Dispose();
        }
        catch (CertificateFileException ex)
        {
            errors.Add($"{path}:Certificate:{ex.Message}");
        }

        if (tls.ClientCertificateMode != ClientCertificateMode.NoCertificate)
        {
            try
            {
                foreach (var authority in CertificateFiles.LoadBundle(tls.ClientCertificateAuthority, nameof(tls.ClientCertificateAuthority)))
                    authority.Dispose();
            }
            catch (CertificateFileException ex)
            {
                errors.Add($"{path}:{ex.Message} It is required when ClientCertificateMode is {tls.ClientCertificateMode}.");
            }
        }

        if (tls.HandshakeTimeout <= TimeSpan.Zero)
            errors.Add($"{path}:HandshakeTimeout must be positive (was {tls.HandshakeTimeout}).");
    }

    /// <summary>Reports templates that do not parse; returns the setting ("Publish", "Subscribe:0") of the first that uses {clientId}, or null.</summary>
    private static string? ValidateTemplates(string path, EndpointOptions endpoint, List<string> errors)
    {
        string? clientIdUsedBy = null;
        if (endpoint.Publish is not null)
        {
            if (!TryParseTemplate(endpoint.Publish, TemplateKind.Topic, out var publish, out var publishError))
                errors.Add($"{path}:Publish: {publishError}");
            else if (publish.RequiresClientId)
                clientIdUsedBy = "Publish";
        }

        for (var i = 0; i < endpoint.Subscribe.Count; i++)
        {
            if (!TryParseTemplate(endpoint.Subscribe[i], TemplateKind.Filter, out var subscribe, out var subscribeError))
                errors.Add($"{path}:Subscribe:{i}: {subscribeError}");
            else if (subscribe.RequiresClientId)
                clientIdUsedBy ??= $"Subscribe:{i}";
        }

        return clientIdUsedBy;
    }

    private static void ValidateSecurity(GatewayOptions options, string path, List<string> errors)
    {
        var security = options.Security;
        var digests = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < security.ApiKeys.Count; i++)
        {
            var key = security.ApiKeys[i];
            if (string.IsNullOrWhiteSpace(key.Identity))
                errors.Add($"{path}:ApiKeys:{i}:Identity is required: the identity the key is issued to.");
            if (!ApiKeys.IsDigest(key.Sha256))
                errors.Add($"{path}:ApiKeys:{i}:Sha256 must be the key's SHA-256 as 64 hex digits (printf %s \"$KEY\" | sha256sum), never the key itself.");
            else if (!digests.Add(key.Sha256!))
                errors.Add($"{path}:ApiKeys:{i}:Sha256 is the digest of a key listed before it.");
        }

        foreach (var (identity, permissions) in security.Permissions)
            ValidatePermissions(permissions, $"{path}:Permissions:{identity}", errors);
        if (security.DefaultPermissions is { } fallback)
            ValidatePermissions(fallback, $"{path}:DefaultPermissions", errors);

        var clientCertificates = options.Https.IsEnabled && options.Https.ClientCertificateMode != ClientCertificateMode.NoCertificate;
        if (security.RequireAuthentication && security.ApiKeys.Count == 0 && !clientCertificates)
            errors.Add($"{path}:RequireAuthentication needs a way in: add {path}:ApiKeys, or client certificates on {GatewayOptions.SectionName}:Https (ClientCertificateMode).");
    }

    private static void ValidatePermissions(PermissionOptions permissions, string path, List<string> errors)
    {
        foreach (var (list, name) in new[] { (permissions.Publish, "Publish"), (permissions.Subscribe, "Subscribe") })
        {
            for (var i = 0; i < list.Count; i++)
            {
                if (!TopicFilter.TryParse(list[i], out _, out var error))
                    errors.Add($"{path}:{name}:{i}: {error}");
            }
        }
    }

    private static void ValidateHttp(HttpHostOptions http, string path, List<string> errors)
    {
        if (http.MaxPublishBytes <= 0)
            errors.Add($"{path}:MaxPublishBytes must be positive (was {http.MaxPublishBytes}).");
        if (http.Sse.HistoryPerTopic < 0)
            errors.Add($"{path}:Sse:HistoryPerTopic must not be negative (was {http.Sse.HistoryPerTopic}); 0 turns history off.");
        if (http.Sse.MaxHistoryTopics <= 0)
            errors.Add($"{path}:Sse:MaxHistoryTopics must be positive (was {http.Sse.MaxHistoryTopics}).");
        if (http.Sse.HistoryRetention < TimeSpan.Zero)
            errors.Add($"{path}:Sse:HistoryRetention must not be negative (was {http.Sse.HistoryRetention}).");
        if (http.Sse.KeepAliveInterval <= TimeSpan.Zero)
            errors.Add($"{path}:Sse:KeepAliveInterval must be positive (was {http.Sse.KeepAliveInterval}).");
        if (http.Sse.Outbox.Capacity <= 0)
            errors.Add($"{path}:Sse:Outbox:Capacity must be positive (was {http.Sse.Outbox.Capacity}).");
        if (http.WebSocket.MaxMessageBytes <= 0)
            errors.Add($"{path}:WebSocket:MaxMessageBytes must be positive (was {http.WebSocket.MaxMessageBytes}).");
        if (http.WebSocket.KeepAliveInterval < TimeSpan.Zero)
            errors.Add($"{path}:WebSocket:KeepAliveInterval must not be negative (was {http.WebSocket.KeepAliveInterval}); 0 turns pings off.");
        if (http.WebSocket.KeepAliveTimeout < TimeSpan.Zero)
            errors.Add($"{path}:WebSocket:KeepAliveTimeout must not be negative (was {http.WebSocket.KeepAliveTimeout}).");
        if (http.WebSocket.Outbox.Capacity <= 0)
            errors.Add($"{path}:WebSocket:Outbox:Capacity must be positive (was {http.WebSocket.Outbox.Capacity}).");
        foreach (var origin in http.WebSocket.AllowedOrigins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.AbsolutePath != "/" || origin.EndsWith('/'))
                errors.Add($"{path}:WebSocket:AllowedOrigins: '{origin}' is not an origin (scheme://host[:port], no path).");
        }
    }

    private static bool TryParseTemplate(string template, TemplateKind kind, [NotNullWhen(true)] out TopicTemplate? parsed, out string? error)
    {
        try
        {
            parsed = TopicTemplate.Parse(template, kind);
            error = null;
            return true;
        }
        catch (TopicException ex)
        {
            parsed = null;
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
