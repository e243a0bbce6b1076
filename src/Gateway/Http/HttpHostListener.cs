using System.Net;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Http;

/// <summary>The HTTP host's Kestrel listeners, so the bound address can be read back (the real port when 0 was configured).</summary>
internal sealed class HttpHostListener
{
    public List<ListenOptions> Listeners { get; } = [];

    public EndPoint? BoundEndPoint => Listeners.Count > 0 ? Listeners[0].EndPoint : null;
}
