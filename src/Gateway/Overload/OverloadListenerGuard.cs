using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Gateway.Overload;

/// <summary>Refuses a raw listener's new connections (framed TCP, TLS, Unix sockets) while the process is overloaded.</summary>
internal static class OverloadListenerGuard
{
    /// <summary>
    /// Closes each connection the listener accepts while overloaded, before anything else runs on it: no TLS handshake,
    /// no session, no buffers. Otherwise it costs one field read per accepted connection. Add it before the listener's
    /// TLS, so a refusal costs no handshake.
    /// </summary>
    /// <remarks>
    /// The connection is accepted and closed rather than left in the kernel's backlog, where the peer would wait without
    /// knowing and the refusal could not be counted. HTTP ports are not guarded here: they accept, to answer 503 with
    /// <c>Retry-After</c> (<see cref="OverloadHttpGate"/>).
    /// </remarks>
    public static void RefuseWhenOverloaded(this ListenOptions listen, string endpoint, OverloadRefusals refusals) =>
        listen.Use(next => connection =>
            refusals.Refuses(endpoint, "a connection", connection.RemoteEndPoint) ? Task.CompletedTask : next(connection));
}
