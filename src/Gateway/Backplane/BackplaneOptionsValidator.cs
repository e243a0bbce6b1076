using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Protocols.Topics;
using Gateway.Security;

namespace Gateway.Backplane;

/// <summary>Checks <c>Gateway:Backplane</c>.</summary>
internal sealed class BackplaneOptionsValidator : GatewayOptionsCheck
{
    private const string Path = $"{Root}:Backplane";

    private static readonly string[] s_schemes = ["nats", "tls", "ws", "wss"];

    protected override void Check(GatewayOptions options, List<string> errors)
    {
        var backplane = options.Backplane;
        if (!backplane.IsEnabled)
        {
            if (backplane.History.Enabled)
                errors.Add($"{Path}:History:Enabled needs {Path}:Kind Nats: the shared history lives in a JetStream stream.");
            return;
        }

        if (backplane.Urls.Count == 0)
            errors.Add($"{Path}:Urls must name at least one NATS server, such as nats://127.0.0.1:4222, when Kind is Nats.");
        for (var i = 0; i < backplane.Urls.Count; i++)
        {
            var url = backplane.Urls[i];
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || !s_schemes.Contains(uri.Scheme) || uri.Host.Length == 0)
                errors.Add($"{Path}:Urls:{i} '{url}' is not a NATS server URL such as nats://host:4222 (schemes: {string.Join(", ", s_schemes)}).");
        }

        CheckCredentials(backplane, errors);
        CheckTls(backplane.Tls, errors);

        if (!NatsSubject.IsValidPrefix(backplane.SubjectPrefix) || backplane.SubjectPrefix.StartsWith('$') || backplane.SubjectPrefix.StartsWith("_INBOX", StringComparison.Ordinal))
            errors.Add($"{Path}:SubjectPrefix '{backplane.SubjectPrefix}' must be one or more '.'-separated NATS tokens of printable ASCII, without wildcards, not starting with '$' or '_INBOX'.");
        CheckOutbox(backplane.Outbox, Path, errors);
        if (backplane.Outbox.Overflow == OverflowPolicy.Disconnect)
            errors.Add($"{Path}:Outbox:Overflow must be DropOldest or DropNewest: the link to NATS has nobody to disconnect.");
        if (backplane.ProbeInterval < TimeSpan.FromMilliseconds(100))
            errors.Add($"{Path}:ProbeInterval must be at least 100 ms (was {backplane.ProbeInterval}).");
        if (backplane.ProbeTimeout <= TimeSpan.Zero)
            errors.Add($"{Path}:ProbeTimeout must be positive (was {backplane.ProbeTimeout}).");
        if (backplane.History.Enabled) CheckHistory(backplane.History, errors);
    }

    private static void CheckHistory(BackplaneHistoryOptions history, List<string> errors)
    {
        if (history.Stream is { } stream && (stream.Length == 0 || stream.AsSpan().IndexOfAny(". *>\t\r\n/\\") >= 0))
            errors.Add($"{Path}:History:Stream '{stream}' is not a JetStream stream name: no spaces, '.', '*', '>', '/' or '\\'.");
        if (history.MaxAge <= TimeSpan.Zero)
            errors.Add($"{Path}:History:MaxAge must be positive (was {history.MaxAge}).");
        if (history.MaxMessagesPerTopic <= 0)
            errors.Add($"{Path}:History:MaxMessagesPerTopic must be positive (was {history.MaxMessagesPerTopic}).");
        if (history.Replicas is < 1 or > 5)
            errors.Add($"{Path}:History:Replicas must be between 1 and 5 (was {history.Replicas}).");
    }

    private static void CheckCredentials(BackplaneOptions backplane, List<string> errors)
    {
        var kinds = new List<string>();
        if (backplane.Username is not null || backplane.Password is not null) kinds.Add("Username/Password");
        if (backplane.Token is not null) kinds.Add("Token");
        if (backplane.CredentialsFile is not null) kinds.Add("CredentialsFile");
        if (backplane.NKeyFile is not null) kinds.Add("NKeyFile");
        if (kinds.Count > 1)
            errors.Add($"{Path}: set one kind of credentials, not {string.Join(" and ", kinds)}.");
        if (backplane.Password is not null && string.IsNullOrEmpty(backplane.Username))
            errors.Add($"{Path}:Password is set without {Path}:Username.");
        CheckReadable(backplane.CredentialsFile, "CredentialsFile", errors);
        CheckReadable(backplane.NKeyFile, "NKeyFile", errors);
    }

    private static void CheckTls(BackplaneTlsOptions tls, List<string> errors)
    {
        if (tls.CertificateAuthority is not null)
        {
            try
            {
                foreach (var authority in CertificateFiles.LoadBundle(tls.CertificateAuthority, "CertificateAuthority"))
                    authority.Dispose();
            }
            catch (CertificateFileException ex)
            {
                errors.Add($"{Path}:Tls:{ex.Message}");
            }
        }

        if (tls.ClientCertificate.Path is not null)
        {
            try
            {
                CertificateFiles.LoadWithKey(tls.ClientCertificate).Dispose();
            }
            catch (CertificateFileException ex)
            {
                errors.Add($"{Path}:Tls:ClientCertificate:{ex.Message}");
            }
        }
    }

    private static void CheckReadable(string? file, string setting, List<string> errors)
    {
        if (file is not null && !File.Exists(file))
            errors.Add($"{Path}:{setting} '{file}' does not exist.");
    }
}
