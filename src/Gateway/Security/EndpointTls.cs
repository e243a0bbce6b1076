using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Gateway.Configuration;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gateway.Security;

/// <summary>
/// TLS in front of one endpoint's connection handler: Kestrel's TLS connection middleware with the endpoint's
/// certificate, client-certificate mode and trusted authorities; it counts and logs the handshakes that fail.
/// </summary>
internal sealed class EndpointTls
{
    private readonly string _endpoint;
    private readonly ILogger _logger;
    private readonly ClientCertificates? _clients;
    private readonly X509Certificate2 _certificate;
    private readonly HttpsConnectionAdapterOptions _connectionOptions;
    private long _failedHandshakes;

    /// <exception cref="CertificateFileException">A certificate file cannot be used.</exception>
    public EndpointTls(string endpoint, TlsOptions options, ILogger logger)
    {
        _endpoint = endpoint;
        _logger = logger;
        _certificate = CertificateFiles.LoadWithKey(options.Certificate);
        if (options.ClientCertificateMode != ClientCertificateMode.NoCertificate)
        {
            var authorities = CertificateFiles.LoadBundle(options.ClientCertificateAuthority, nameof(options.ClientCertificateAuthority));
            _clients = new ClientCertificates(authorities, options.RevocationMode, options.IdentityFrom);
        }

        _connectionOptions = new HttpsConnectionAdapterOptions
        {
            ServerCertificateSelector = (_, _) => _certificate,
            ClientCertificateMode = options.ClientCertificateMode,
            ClientCertificateValidation = _clients is null ? null : IsClientCertificateTrusted,
            SslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
            HandshakeTimeout = options.HandshakeTimeout,
            // Revocation is part of the chain the client certificate check builds, in the configured mode.
            CheckCertificateRevocation = false,
        };
    }

    /// <summary>Handshakes that failed: plaintext sent to the port, an untrusted or missing client certificate, a timeout.</summary>
    public long FailedHandshakes => Volatile.Read(ref _failedHandshakes);

    /// <summary>Puts TLS in front of whatever the listener runs next.</summary>
    public void Apply(ListenOptions listen)
    {
        listen.Use(next => context => WatchHandshakeAsync(context, next));
        listen.UseHttps(_connectionOptions);
    }

    /// <summary>The client's identity from its certificate, or null when it presented none.</summary>
    public string? IdentityOf(ConnectionContext context) =>
        _clients is not null && context.Features.Get<ITlsConnectionFeature>()?.ClientCertificate is { } certificate
            ? _clients.IdentityOf(certificate)
            : null;

    /// <summary>Called by the connection handler: the handshake succeeded, since the handler runs behind it.</summary>
    public static void MarkHandshakeCompleted(ConnectionContext context)
    {
        if (context.Features.Get<HandshakeWatch>() is { } watch) watch.Completed = true;
    }

    private async Task WatchHandshakeAsync(ConnectionContext context, ConnectionDelegate next)
    {
        // Kestrel's TLS middleware ends a failed handshake quietly (a Debug line): the handler never runs.
        var watch = new HandshakeWatch();
        context.Features.Set(watch);
        await next(context).ConfigureAwait(false);
        if (watch.Completed) return;
        var failed = Interlocked.Increment(ref _failedHandshakes);
        SecurityLog.HandshakeFailed(_logger, _endpoint, context.RemoteEndPoint?.ToString() ?? "unix", failed);
    }

    private bool IsClientCertificateTrusted(X509Certificate2 certificate, X509Chain? chain, System.Net.Security.SslPolicyErrors errors)
    {
        // The platform's verdict (errors) is against the system store; only the configured authorities count here.
        if (_clients!.IsTrusted(certificate, out var problem)) return true;
        SecurityLog.ClientCertificateRejected(_logger, _endpoint, certificate.Subject, problem);
        return false;
    }

    private sealed class HandshakeWatch
    {
        public bool Completed { get; set; }
    }
}
