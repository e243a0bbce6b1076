using System.Net;
using Gateway.Security;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Http;

/// <summary>
/// The HTTP host's Kestrel listeners, plaintext and HTTPS, so the bound addresses can be read back (the real port
/// when 0 was configured), and the HTTPS port's TLS, which also names the client behind a certificate.
/// </summary>
internal sealed class HttpHostListener(EndpointTls? tls) : IDisposable
{
    public List<ListenOptions> Listeners { get; } = [];

    public List<ListenOptions> SecureListeners { get; } = [];

    /// <summary>TLS of the HTTPS port; null when <c>Gateway:Https</c> names no certificate.</summary>
    public EndpointTls? Tls { get; } = tls;

    public EndPoint? BoundEndPoint => Listeners.Count > 0 ? Listeners[0].EndPoint : null;

    public EndPoint? SecureEndPoint => SecureListeners.Count > 0 ? SecureListeners[0].EndPoint : null;

    public void Dispose() => Tls?.Dispose();
}
