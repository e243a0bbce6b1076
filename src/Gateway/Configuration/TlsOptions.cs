using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gateway.Configuration;

/// <summary>TLS on a TCP endpoint (<c>Gateway:Endpoints:{name}:Tls</c>): the framing is unchanged behind it.</summary>
public class TlsOptions
{
    /// <summary>The server's certificate and key.</summary>
    public CertificateFileOptions Certificate { get; set; } = new();

    /// <summary>
    /// Whether clients present a certificate: <c>NoCertificate</c> (the default), <c>AllowCertificate</c> (asked for,
    /// and validated when given) or <c>RequireCertificate</c> (the handshake fails without a valid one).
    /// </summary>
    public ClientCertificateMode ClientCertificateMode { get; set; } = ClientCertificateMode.NoCertificate;

    /// <summary>
    /// PEM file with the CA certificates that client certificates must chain to (the seeds' ca.crt). Only these are
    /// trusted, never the system store. Required unless <see cref="ClientCertificateMode"/> is <c>NoCertificate</c>.
    /// </summary>
    public string? ClientCertificateAuthority { get; set; }

    /// <summary>Revocation check of client certificates: <c>NoCheck</c> (the default), <c>Online</c> or <c>Offline</c>.</summary>
    public X509RevocationMode RevocationMode { get; set; } = X509RevocationMode.NoCheck;

    /// <summary>Which name of a client certificate becomes the connection's identity, {clientId}. Defaults to the subject's CN.</summary>
    public ClientIdentitySource IdentityFrom { get; set; } = ClientIdentitySource.CommonName;

    /// <summary>A handshake that takes longer is abandoned and the socket closed. Defaults to 10 seconds.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Reads the certificate and the client certificate authority again when their files change, for the handshakes
    /// that follow; open connections keep theirs. A file that cannot be read is logged and the old one kept. Defaults to true.
    /// </summary>
    public bool ReloadOnChange { get; set; } = true;
}

/// <summary>
/// HTTPS on the shared HTTP host (<c>Gateway:Https</c>): the same API, server-sent events and WebSocket (wss) as the
/// plaintext port, on a port of its own. It listens when <see cref="TlsOptions.Certificate"/> names a file.
/// </summary>
public sealed class HttpsOptions : TlsOptions
{
    /// <summary>Defaults to <see cref="GatewayOptions.DefaultAddress"/>.</summary>
    public string? Address { get; set; }

    /// <summary>Defaults to 8443. Use 0 for an ephemeral port.</summary>
    public int Port { get; set; } = 8443;

    /// <summary>Whether a certificate is configured, which turns HTTPS on.</summary>
    public bool IsEnabled => !string.IsNullOrEmpty(Certificate.Path);
}

/// <summary>
/// A certificate with its private key: PEM files (<see cref="Path"/> and <see cref="KeyPath"/>, as the seeds' openssl
/// steps and deploy/certs/make-certs.sh write them) or one PKCS#12 file (<see cref="Path"/> ending in .p12 or .pfx).
/// </summary>
public sealed class CertificateFileOptions
{
    /// <summary>The PEM certificate (its chain may follow it in the file), or the PKCS#12 file.</summary>
    public string? Path { get; set; }

    /// <summary>The PEM private key. Unset for PKCS#12, or when the key follows the certificate in <see cref="Path"/>.</summary>
    public string? KeyPath { get; set; }

    /// <summary>Password of the PKCS#12 file or of an encrypted PEM key.</summary>
    public string? Password { get; set; }
}

/// <summary>The name of a client certificate used as the client's identity.</summary>
public enum ClientIdentitySource
{
    /// <summary>The subject's common name (CN).</summary>
    CommonName,

    /// <summary>The first DNS name among the subject alternative names.</summary>
    DnsName,

    /// <summary>The first e-mail address among the subject alternative names (or the subject's E=).</summary>
    Email,

    /// <summary>The first URI among the subject alternative names.</summary>
    Uri,
}
