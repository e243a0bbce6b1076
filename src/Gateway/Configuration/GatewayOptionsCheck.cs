using System.Diagnostics.CodeAnalysis;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Security;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Gateway.Configuration;

/// <summary>
/// One capability's part of the <c>Gateway</c> section's validation. Each capability registers its own
/// (<see cref="GatewayOptionsCheckRegistration.AddGatewayOptionsCheck{TCheck}"/>); at start the options system runs every
/// part and reports all their problems together, one line each, naming the setting by its configuration path.
/// </summary>
internal abstract class GatewayOptionsCheck : IValidateOptions<GatewayOptions>
{
    protected const string Root = GatewayOptions.SectionName;

    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var errors = new List<string>();
        Check(options, errors);
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    /// <summary>Adds one line per problem to <paramref name="errors"/>.</summary>
    protected abstract void Check(GatewayOptions options, List<string> errors);

    protected static void CheckAddress(string? address, string path, List<string> errors)
    {
        if (address is not null && !ListenAddress.IsValid(address))
            errors.Add($"{path} '{address}' is not an IP address, 'localhost' or '*'.");
    }

    protected static void CheckPort(int port, string path, List<string> errors)
    {
        if (port is < 0 or > 65535)
            errors.Add($"{path} must be between 0 and 65535 (was {port}).");
    }

    protected static void CheckOutbox(OutboxOptions outbox, string path, List<string> errors)
    {
        if (outbox.Capacity <= 0)
            errors.Add($"{path}:Outbox:Capacity must be positive (was {outbox.Capacity}).");
    }

    /// <summary>Loads the certificate files once, so a missing or unreadable one stops the start and names its setting.</summary>
    /// <param name="path">The TLS section: an endpoint's <c>Tls</c>, or <c>Gateway:Https</c>.</param>
    protected static void CheckTls(string path, TlsOptions tls, List<string> errors)
    {
        try
        {
            CertificateFiles.LoadServerCertificate(tls.Certificate).Dispose();
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
    protected static string? CheckTemplates(string path, EndpointOptions endpoint, List<string> errors)
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
}

/// <summary>Registers a capability's part of the validation.</summary>
internal static class GatewayOptionsCheckRegistration
{
    public static IServiceCollection AddGatewayOptionsCheck<TCheck>(this IServiceCollection services) where TCheck : GatewayOptionsCheck
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<GatewayOptions>, TCheck>());
        return services;
    }
}
