namespace Gateway.Connections;

/// <summary>The reasons a connection's close line can give.</summary>
internal static class CloseReasons
{
    public const string PeerClosed = "peer closed";
    public const string IdleTimeout = "idle timeout";
    public const string FramingError = "framing error";
    public const string OutboxOverflow = "outbox overflow";
    public const string DrainTimeout = "drain timeout";
    public const string ServerShutdown = "server shutting down";
    public const string Reset = "reset by peer";
    public const string Aborted = "aborted";
    public const string TransportError = "transport error";
    public const string Unknown = "unknown";
    public const string SharedHistoryUnavailable = "shared history unavailable";
}
