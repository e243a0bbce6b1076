using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Security;

/// <summary>
/// Certificates made by the repository's own deploy/certs/make-certs.sh: a trusted CA with the server and the clients
/// device1 and device2, a second CA nobody trusts with the client "intruder", and an expired client certificate
/// signed by the trusted CA (made here, since openssl 3.0's x509 cannot back-date).
/// </summary>
public sealed class TestCertificates : IAsyncLifetime
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "gateway-certs-" + Guid.NewGuid().ToString("N")[..8]);

    public string Trusted => Path.Combine(_root, "trusted");

    public string CaCertificate => Path.Combine(Trusted, "ca.crt");

    public string ServerCertificate => Path.Combine(Trusted, "server.crt");

    public string ServerKey => Path.Combine(Trusted, "server.key");

    public string ServerPkcs12 => Path.Combine(Trusted, "server.p12");

    public (string Certificate, string Key) Client(string name) =>
        name == "intruder"
            ? (Path.Combine(_root, "stranger", "clients", "intruder.crt"), Path.Combine(_root, "stranger", "clients", "intruder.key"))
            : (Path.Combine(Trusted, "clients", name + ".crt"), Path.Combine(Trusted, "clients", name + ".key"));

    /// <summary>
    /// Settings of a line endpoint "devices" that requires a client certificate from the trusted CA and scopes its
    /// topics to it: devices/{clientId}/up and devices/{clientId}/down.
    /// </summary>
    public string[] DevicesEndpoint =>
    [
        "Gateway:Endpoints:devices:Port=0",
        "Gateway:Endpoints:devices:Framing:Kind=Line",
        "Gateway:Endpoints:devices:Publish=devices/{clientId}/up",
        "Gateway:Endpoints:devices:Subscribe:0=devices/{clientId}/down",
        $"Gateway:Endpoints:devices:Tls:Certificate:Path={ServerCertificate}",
        $"Gateway:Endpoints:devices:Tls:Certificate:KeyPath={ServerKey}",
        "Gateway:Endpoints:devices:Tls:ClientCertificateMode=RequireCertificate",
        $"Gateway:Endpoints:devices:Tls:ClientCertificateAuthority={CaCertificate}",
    ];

    /// <summary>A client's chain policy that trusts the CA in <paramref name="caPath"/> and nothing else.</summary>
    public static X509ChainPolicy TrustOnly(string caPath) => new()
    {
        TrustMode = X509ChainTrustMode.CustomRootTrust,
        CustomTrustStore = { X509CertificateLoader.LoadCertificateFromFile(caPath) },
        RevocationMode = X509RevocationMode.NoCheck, // the private CA publishes no revocation list
    };

    /// <summary>An HTTP handler that trusts only the test CA and, when named, presents a client's certificate.</summary>
    public SocketsHttpHandler HttpHandler(string? client = null)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.CertificateChainPolicy = TrustOnly(CaCertificate);
        if (client is not null)
        {
            var (certificate, key) = Client(client);
            handler.SslOptions.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificate, key)];
        }

        return handler;
    }

    public async Task InitializeAsync()
    {
        await MakeCertsAsync(Trusted, "device1", "device2", "expired");
        await MakeCertsAsync(Path.Combine(_root, "stranger"), "intruder");
        ReplaceWithExpired(Client("expired").Certificate, Client("expired").Key);
    }

    public Task DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return Task.CompletedTask;
    }

    private static async Task MakeCertsAsync(string folder, params string[] clients)
    {
        await using var script = ProcessRunner.Start("bash", [Path.Combine(RepositoryPaths.Root, "deploy", "certs", "make-certs.sh"), folder, .. clients]);
        var exit = await script.WaitForExitAsync(TimeSpan.FromSeconds(60));
        if (exit != 0) throw new InvalidOperationException($"make-certs.sh failed ({exit}): {script.StandardError}");
    }

    /// <summary>
    /// Re-issues the client's certificate for the same key, valid for the CA's first second only: a certificate may
    /// not start before its issuer, and the CA was made moments ago.
    /// </summary>
    private void ReplaceWithExpired(string certificatePath, string keyPath)
    {
        using var ca = X509Certificate2.CreateFromPemFile(CaCertificate, Path.Combine(Trusted, "ca.key"));
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(keyPath));
        var request = new CertificateRequest("CN=expired", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], false));
        var notBefore = new DateTimeOffset(ca.NotBefore.ToUniversalTime());
        var notAfter = notBefore.AddSeconds(1);
        using var expired = request.Create(ca, notBefore, notAfter, RandomNumberGenerator.GetBytes(16));
        var wait = notAfter.AddSeconds(1) - DateTimeOffset.UtcNow;
        if (wait > TimeSpan.Zero) Thread.Sleep(wait);
        File.WriteAllText(certificatePath, expired.ExportCertificatePem());
    }
}
