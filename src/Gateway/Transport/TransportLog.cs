namespace Gateway.Transport;

/// <summary>Log lines of the transport; event ids from <see cref="LogEventIds.Transport"/>.</summary>
internal static partial class TransportLog
{
    [LoggerMessage(EventId = LogEventIds.Transport, EventName = "ListenAddressUnavailable", Level = LogLevel.Warning,
        Message = "Not listening on {Address}: {Reason}. The endpoint's other addresses still listen.")]
    public static partial void ListenAddressUnavailable(ILogger logger, string address, string reason);

    [LoggerMessage(EventId = LogEventIds.Transport + 1, EventName = "SendRingUnavailable", Level = LogLevel.Information,
        Message = "No io_uring ({Reason}): a WebSocket fan-out makes one send system call per subscriber instead of one for all. In a container, allow io_uring_setup and io_uring_enter in its seccomp profile.")]
    public static partial void SendRingUnavailable(ILogger logger, string reason);
}
