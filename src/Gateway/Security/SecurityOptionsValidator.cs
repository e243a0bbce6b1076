using Gateway.Configuration;
using Gateway.Protocols.Topics;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gateway.Security;

/// <summary>Checks <c>Gateway:Security</c>: API keys, permissions, and that required authentication has a way in.</summary>
internal sealed class SecurityOptionsValidator : GatewayOptionsCheck
{
    protected override void Check(GatewayOptions options, List<string> errors)
    {
        var security = options.Security;
        var path = $"{Root}:Security";
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
            CheckPermissions(permissions, $"{path}:Permissions:{identity}", errors);
        if (security.DefaultPermissions is { } fallback)
            CheckPermissions(fallback, $"{path}:DefaultPermissions", errors);

        var clientCertificates = options.Https.IsEnabled && options.Https.ClientCertificateMode != ClientCertificateMode.NoCertificate;
        if (security.RequireAuthentication && security.ApiKeys.Count == 0 && !clientCertificates)
            errors.Add($"{path}:RequireAuthentication needs a way in: add {path}:ApiKeys, or client certificates on {Root}:Https (ClientCertificateMode).");
    }

    private static void CheckPermissions(PermissionOptions permissions, string path, List<string> errors)
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
}
