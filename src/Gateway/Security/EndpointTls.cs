using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Gateway.Configuration;
using Gateway.Observability;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gateway.Security;

/// <summary>
/// TLS in front of one endpoint's connection handler, or of the HTTPS port: Kestrel's TLS connection middleware with
/// the endpoint's certificate, client-certificate mode and trusted authorities. It counts every handshake that fails and
/// logs them through a <see cref="LogThrottle"/>, and reads the certificate files again when they change.
/// </summary>
internal sealed class EndpointTls : IDisposable
{
    private readonly string _endpoint;
    private readonly TlsOptions _options;
    private readonly ILogger _logger;
    private readonly HttpsConnectionAdapterOptions _connectionOptions;
    private readonly FileChangeWatch? _watch;
    // Anyone who can reach the port can fail a handshake, or offer a bad certificate, as often as they like.
    private readonly LogThrottle _failedHandshakeLines;
    private readonly LogThrottle _rejectedCertificateLines;
    private readonly Lock _reloading = new();
    // Swapped whole by a reload; each handshake reads the current ones.
    private X509Certificate2 _certificate;
    private ClientCertificates? _clients;
    private long _failedHandshakes;

    /// <exception cref="CertificateFileException">A certificate file cannot be used.</exception>
    public EndpointTls(string endpoint, TlsOptions options, ILogger logger)
    {
        _endpoint = endpoint;
        _options = options;
        _logger = logger;
        _failedHandshakeLines = new LogThrottle(logger, $"failed TLS handshakes on {endpoint}");
        _rejectedCertificateLines = new LogThrottle(logger, $"rejected client certificates on {endpoint}");
        (_certificate, _clients) = Load(options);
        _connectionOptions = new HttpsConnectionAdapterOptions
        {
            ServerCertificateSelector = (_, _) => Volatile.Read(ref _certificate),
            ClientCertificateMode = options.ClientCertificateMode,
            ClientCertificateValidation = _clients is null ? null : IsClientCertificateTrusted,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            HandshakeTimeout = options.HandshakeTimeout,
            // Revocation is part of the chain the client certificate check builds, in the configured mode.
            CheckCertificateRevocation = false,
        };
        if (options.ReloadOnChange)
        {
            string?[] files = [options.Certificate.Path, options.Certificate.KeyPath, _clients is null ? null : options.ClientCertificateAuthority];
            _watch = new FileChangeWatch(files.Where(file => !string.IsNullOrEmpty(file))!, Reload);
        }
    }

    /// <summary>Handshakes that failed: plaintext sent to the port, an untrusted or missing client certificate, a timeout.</summary>
    public long FailedHandshakes => Volatile.Read(ref _failedHandshakes);

    /// <summary>Puts TLS in front of whatever the listener runs next: a framed endpoint's handler, or HTTP.</summary>
    public void Apply(ListenOptions listen)
    {
        listen.Use(next => context => WatchHandshakeAsync(context, next));
        listen.UseHttps(_connectionOptions);
        // Runs only once the handshake has succeeded, as it sits behind the TLS middleware.
        listen.Use(static next => context =>
        {
            context.Features.Get<HandshakeWatch>()!.Completed = true;
            return next(context);
        });
    }

    /// <summary>The client's identity from its certificate, or null when it presented none.</summary>
    public string? IdentityOf(ConnectionContext context) => IdentityOf(context.Features.Get<ITlsConnectionFeature>()?.ClientCertificate);

    /// <summary>The identity a client certificate carries, or null without one (or when this endpoint asks for none).</summary>
    public string? IdentityOf(X509Certificate2? clientCertificate) =>
        Volatile.Read(ref _clients) is { } clients && clientCertificate is not null ? clients.IdentityOf(clientCertificate) : null;

    public void Dispose() => _watch?.Dispose();

    /// <summary>Reads the files again; a file that cannot be used is logged and the certificates in use are kept.</summary>
    private void Reload()
    {
        lock (_reloading)
        {
            X509Certificate2 certificate;
            ClientCertificates? clients;
            try
            {
                (certificate, clients) = Load(_options);
            }
            catch (CertificateFileException ex)
            {
                SecurityLog.CertificateReloadFailed(_logger, _endpoint, ex.Message);
                return;
            }

            var previous = _certificate;
            if (certificate.Thumbprint == previous.Thumbprint && clients?.AuthorityThumbprints == _clients?.AuthorityThumbprints)
            {
                certificate.Dispose();
                return;
            }

            // The previous certificate is not disposed: a handshake in flight may still be using it.
            Volatile.Write(ref _certificate, certificate);
            Volatile.Write(ref _clients, clients);
            SecurityLog.CertificateReloaded(_logger, _endpoint, certificate.Subject, certificate.Thumbprint, certificate.NotAfter.ToUniversalTime(),
                previous.Thumbprint);
        }
    }

    private static (X509Certificate2 Certificate, ClientCertificates? Clients) Load(TlsOptions options)
    {
        var certificate = CertificateFiles.LoadServerCertificate(options.Certificate);
        if (options.ClientCertificateMode == ClientCertificateMode.NoCertificate) return (certificate, null);
        try
        {
            var authorities = CertificateFiles.LoadBundle(options.ClientCertificateAuthority, nameof(options.ClientCertificateAuthority));
            return (certificate, new ClientCertificates(authorities, options.RevocationMode, options.IdentityFrom));
        }
        catch
        {
            certificate.Dispose();
            throw;
        }
    }

    private async Task WatchHandshakeAsync(ConnectionContext context, ConnectionDelegate next)
    {
        // Kestrel's TLS middleware ends a failed handshake quietly (a Debug line): the handler never runs.
        var watch = new HandshakeWatch();
        context.Features.Set(watch);
        await next(context).ConfigureAwait(false);
        if (watch.Completed) return;
        var failed = Interlocked.Increment(ref _failedHandshakes);
        if (_failedHandshakeLines.Allow()) SecurityLog.HandshakeFailed(_logger, _endpoint, context.RemoteEndPoint?.ToString() ?? "unix", failed);
    }

    private bool IsClientCertificateTrusted(X509Certificate2 certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors)
    {
        // The platform's verdict (errors) is against the system store; only the configured authorities count here.
        if (Volatile.Read(ref _clients)!.IsTrusted(certificate, out var problem)) return true;
        if (_rejectedCertificateLines.Allow()) SecurityLog.ClientCertificateRejected(_logger, _endpoint, certificate.Subject, problem);
        return false;
    }

    private sealed class HandshakeWatch
    {
        public bool Completed { get; set; }
    }
}
