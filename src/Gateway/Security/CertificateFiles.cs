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
