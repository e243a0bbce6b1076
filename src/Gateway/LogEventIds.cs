namespace Gateway;

/// <summary>
/// The one list of log event-id ranges: each capability's log class numbers its events from its range's start, so an
/// id names its capability and no two capabilities ever share one.
/// </summary>
internal static class LogEventIds
{
    /// <summary>The bus: 100-199.</summary>
    public const int Messaging = 100;

    /// <summary>Connection sessions of every protocol (opened, closed), start-up and the shutdown drain: 200-299.</summary>
    public const int Connections = 200;

    /// <summary>UDP endpoints: 300-399.</summary>
    public const int Udp = 300;

    /// <summary>WebSocket: 400-499.</summary>
    public const int WebSockets = 400;

    /// <summary>TLS, API keys and permissions: 500-599.</summary>
    public const int Security = 500;

    /// <summary>The HTTP host and its server-sent event streams: 600-699.</summary>
    public const int Http = 600;

    /// <summary>Framed TCP and Unix socket endpoints: 700-799.</summary>
    public const int Tcp = 700;

    /// <summary>The Linux transport (epoll, io_uring, batched datagrams): 800-899.</summary>
    public const int Transport = 800;

    /// <summary>The NATS backplane: 900-999.</summary>
    public const int Backplane = 900;

    /// <summary>Routes to upstream services: 1000-1099.</summary>
    public const int Routing = 1000;

    /// <summary>Tunnels: HTTP CONNECT and WebSocket-to-TCP bridges: 1100-1199.</summary>
    public const int Tunnels = 1100;

    /// <summary>Observability: the log throttle's summaries: 1200-1299.</summary>
    public const int Observability = 1200;

    /// <summary>Overload protection of the process: 1300-1399.</summary>
    public const int Overload = 1300;
}
