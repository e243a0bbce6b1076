namespace Gateway.Security;

/// <summary>Log lines of TLS and client authentication. Event ids 500-599.</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = 500, EventName = "TlsHandshakeFailed", Level = LogLevel.Information,
        Message = "TLS handshake from {Remote} on {Endpoint} failed: not TLS, an untrusted or missing client certificate, or too slow ({FailedHandshakes} failed on this endpoint so far)")]
    public static partial void HandshakeFailed(ILogger logger, string endpoint, string remote, long failedHandshakes);

    [LoggerMessage(EventId = 501, EventName = "ClientCertificateRejected", Level = LogLevel.Information,
        Message = "Client certificate '{Subject}' rejected on {Endpoint}: {Problem}")]
    public static partial void ClientCertificateRejected(ILogger logger, string endpoint, string subject, string problem);
}
