namespace Gateway.Security;

/// <summary>Log lines of TLS, authentication and permissions. Event ids from <see cref="LogEventIds.Security"/>.</summary>
internal static partial class SecurityLog
{
    [LoggerMessage(EventId = LogEventIds.Security, EventName = "TlsHandshakeFailed", Level = LogLevel.Information,
        Message = "TLS handshake from {Remote} on {Endpoint} failed: not TLS, an untrusted or missing client certificate, or too slow ({FailedHandshakes} failed on this endpoint so far)")]
    public static partial void HandshakeFailed(ILogger logger, string endpoint, string remote, long failedHandshakes);

    [LoggerMessage(EventId = LogEventIds.Security + 1, EventName = "ClientCertificateRejected", Level = LogLevel.Information,
        Message = "Client certificate '{Subject}' rejected on {Endpoint}: {Problem}")]
    public static partial void ClientCertificateRejected(ILogger logger, string endpoint, string subject, string problem);

    [LoggerMessage(EventId = LogEventIds.Security + 2, EventName = "PublishDenied", Level = LogLevel.Warning,
        Message = "Publish to {Topic} by {Identity} on {Endpoint} ({ConnectionId}) denied: no Publish permission matches it; this peer's further denied messages are counted, not logged ({DeniedPublishes} denied on {Endpoint} so far)")]
    public static partial void PublishDenied(ILogger logger, string topic, string identity, string endpoint, string connectionId, long deniedPublishes);

    [LoggerMessage(EventId = LogEventIds.Security + 3, EventName = "SubscribeDenied", Level = LogLevel.Warning,
        Message = "Subscription to {Filter} by {Identity} on {Endpoint} ({ConnectionId}) denied: no Subscribe permission includes it")]
    public static partial void SubscribeDenied(ILogger logger, string filter, string identity, string endpoint, string connectionId);

    [LoggerMessage(EventId = LogEventIds.Security + 4, EventName = "RequestRefused", Level = LogLevel.Information,
        Message = "{Method} {Path} from {Remote} as {Identity} refused with {Status}: {Problem}")]
    public static partial void RequestRefused(ILogger logger, string method, string path, string remote, string identity, int status, string problem);

    [LoggerMessage(EventId = LogEventIds.Security + 5, EventName = "CertificateReloaded", Level = LogLevel.Information,
        Message = "TLS certificates of {Endpoint} reloaded: now {Subject} ({Thumbprint}, valid until {NotAfter:u}), was {PreviousThumbprint}; open connections keep theirs")]
    public static partial void CertificateReloaded(ILogger logger, string endpoint, string subject, string thumbprint, DateTime notAfter, string previousThumbprint);

    [LoggerMessage(EventId = LogEventIds.Security + 6, EventName = "CertificateReloadFailed", Level = LogLevel.Error,
        Message = "TLS certificates of {Endpoint} changed on disk but cannot be used, so the current ones stay: {Problem}")]
    public static partial void CertificateReloadFailed(ILogger logger, string endpoint, string problem);
}
