using System.Security.Cryptography.X509Certificates;
using Gateway.Configuration;

namespace Gateway.Security;

/// <summary>Reads certificates from the files the configuration names; the one place that knows their formats.</summary>
internal static class CertificateFiles
{
    /// <summary>Loads a certificate with its private key, from PEM files or a PKCS#12 file.</summary>
    /// <exception cref="CertificateFileException">The file is missing, unreadable, or holds no usable certificate and key; the message says which.</exception>
    public static X509Certificate2 LoadWithKey(CertificateFileOptions options)
    {
        var path = RequireFile(options.Path, nameof(options.Path));
        // An empty KeyPath (an override that clears it) means none, as unset does.
        var keyPath = string.IsNullOrEmpty(options.KeyPath) ? null : RequireFile(options.KeyPath, nameof(options.KeyPath));

        X509Certificate2 certificate;
        try
        {
            if (IsPkcs12(path))
                certificate = X509CertificateLoader.LoadPkcs12FromFile(path, options.Password);
            else if (options.Password is not null)
                certificate = X509Certificate2.CreateFromEncryptedPemFile(path, options.Password, keyPath);
            else
                certificate = X509Certificate2.CreateFromPemFile(path, keyPath);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new CertificateFileException(nameof(options.Path), $"'{path}' could not be read as a certificate with its key: {ex.Message}");
        }

        if (!certificate.HasPrivateKey)
        {
            certificate.Dispose();
            throw new CertificateFileException(nameof(options.KeyPath), $"'{path}' holds no private key; set KeyPath to the key's PEM file.");
        }

        return certificate;
    }

    /// <summary>
    /// Loads a certificate a listener serves TLS with: <see cref="LoadWithKey"/>, and an Extended Key Usage, when it has
    /// one, that includes Server Authentication.
    /// </summary>
    /// <remarks>
    /// Kestrel checks that usage at every handshake and fails each one without it. Checking here refuses such a
    /// certificate at start (or at a reload), naming its setting.
    /// </remarks>
    /// <exception cref="CertificateFileException">As for <see cref="LoadWithKey"/>, or the certificate is not for servers.</exception>
    public static X509Certificate2 LoadServerCertificate(CertificateFileOptions options)
    {
        var certificate = LoadWithKey(options);
        var usages = certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>().SelectMany(extension => extension.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>()).ToList();
        if (usages.Count > 0 && !usages.Any(usage => usage.Value == ServerAuthentication))
        {
            certificate.Dispose();
            throw new CertificateFileException(nameof(options.Path),
                $"'{options.Path}' is not a server certificate: its Extended Key Usage does not include Server Authentication ({ServerAuthentication}).");
        }

        return certificate;
    }

    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    /// <summary>Loads every certificate of a PEM bundle, such as the CA certificates client certificates must chain to.</summary>
    public static X509Certificate2Collection LoadBundle(string? path, string setting)
    {
        var file = RequireFile(path, setting);
        var bundle = new X509Certificate2Collection();
        try
        {
            bundle.ImportFromPemFile(file);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException)
        {
            throw new CertificateFileException(setting, $"'{file}' could not be read as PEM certificates: {ex.Message}");
        }

        if (bundle.Count == 0) throw new CertificateFileException(setting, $"'{file}' holds no PEM certificate.");
        return bundle;
    }

    private static bool IsPkcs12(string path) =>
        path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase);

    private static string RequireFile(string? path, string setting)
    {
        if (string.IsNullOrWhiteSpace(path)) throw new CertificateFileException(setting, "is required.");
        if (!File.Exists(path)) throw new CertificateFileException(setting, $"file '{path}' does not exist.");
        return path;
    }
}

/// <summary>A certificate setting that cannot be used; the message starts with the setting's key under its section.</summary>
internal sealed class CertificateFileException(string setting, string problem) : Exception($"{setting}: {problem}");
