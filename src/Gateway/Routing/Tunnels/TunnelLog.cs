namespace Gateway.Routing.Tunnels;

/// <summary>
/// Log lines of tunnels, besides the open and close lines their sessions write. Event ids from
/// <see cref="LogEventIds.Tunnels"/>. One line per refused tunnel, never one per chunk of bytes.
/// </summary>
internal static partial class TunnelLog
{
    [LoggerMessage(EventId = LogEventIds.Tunnels, EventName = "TunnelRefused", Level = LogLevel.Warning,
        Message = "{Kind} to {Destination} from {Remote} as {Identity} refused with {Status}: {Problem}")]
    public static partial void Refused(ILogger logger, string kind, string destination, string remote, string identity, int status, string problem);

    [LoggerMessage(EventId = LogEventIds.Tunnels + 1, EventName = "TunnelFault", Level = LogLevel.Debug,
        Message = "Tunnel {ConnectionId} faulted")]
    public static partial void Fault(ILogger logger, string connectionId, Exception exception);
}
