using System.Net;
using Gateway.Connections;
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

    /// <summary>
    /// The descriptions of an endpoint that lives on the host's ports: <paramref name="name"/> on the plaintext port, and
    /// <paramref name="secureName"/> on the HTTPS port when it has a certificate; each is also its protocol's name.
    /// </summary>
    /// <param name="countsHandshakes">Whether the secure one reports the HTTPS port's failed handshakes (one endpoint of the port does).</param>
    public IEndpointDescription[] Describe(string name, string secureName, string publish, string subscribe, bool countsHandshakes) =>
        Tls is { } tls
            ?
            [
                new HttpHostEndpoint(name, name, () => BoundEndPoint, publish, subscribe),
                new HttpHostEndpoint(secureName, secureName, () => SecureEndPoint, publish, subscribe, tls, countsHandshakes),
            ]
            : [new HttpHostEndpoint(name, name, () => BoundEndPoint, publish, subscribe)];

    public void Dispose() => Tls?.Dispose();
}
