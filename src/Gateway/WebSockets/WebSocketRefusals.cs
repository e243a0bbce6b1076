using System.Net.WebSockets;
using Gateway.Connections;
using Gateway.Observability;

namespace Gateway.WebSockets;

/// <summary>
/// Counts and logs the WebSockets refused for what they sent (<see cref="FrameViolation"/>): every one in
/// <see cref="Rejections"/>, as <c>protocol_violation</c> or <c>message_too_big</c>, and in the log through a
/// <see cref="LogThrottle"/> per kind and endpoint, since a client can send such frames at will. Lives as long as the
/// endpoints, <c>ws</c> and <c>wss</c>.
/// </summary>
internal sealed class WebSocketRefusals
{
    private readonly Dictionary<string, EndpointRefusals> _endpoints = new(StringComparer.Ordinal);

    public WebSocketRefusals(Rejections rejections, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Gateway.WebSockets");
        foreach (var endpoint in (string[])[WebSocketEndpoint.Name, WebSocketEndpoint.SecureName])
            _endpoints[endpoint] = new EndpointRefusals(endpoint, rejections, logger);
        RefusedUpgradeLines = new LogThrottle(logger, "refused WebSocket upgrades");
    }

    /// <summary>The throttle of the lines of upgrades refused before a socket existed (a bad query, an origin not allowed), which a client can send at will.</summary>
    public LogThrottle RefusedUpgradeLines { get; }

    /// <summary>Counts <paramref name="violation"/> against <paramref name="session"/>'s endpoint, and logs it unless the throttle holds it back.</summary>
    public void Record(ConnectionSession session, FrameViolation violation) => _endpoints[session.Endpoint].Record(session, violation);

    private sealed class EndpointRefusals(string endpoint, Rejections rejections, ILogger logger)
    {
        private readonly RejectionCounter _violations = rejections.For(endpoint, RejectionReasons.ProtocolViolation);
        private readonly RejectionCounter _tooBig = rejections.For(endpoint, RejectionReasons.MessageTooBig);
        private readonly LogThrottle _violationLines = new(logger, $"WebSocket protocol violations on {endpoint}");
        private readonly LogThrottle _tooBigLines = new(logger, $"WebSocket messages over MaxMessageBytes on {endpoint}");

        public void Record(ConnectionSession session, FrameViolation violation)
        {
            if (violation.Status == WebSocketCloseStatus.MessageTooBig)
            {
                _tooBig.Increment();
                if (_tooBigLines.Allow()) WebSocketLog.MessageTooBig(logger, session.Id, session.RemoteAddress, endpoint, violation.Problem);
                return;
            }

            _violations.Increment();
            if (_violationLines.Allow())
                WebSocketLog.ProtocolViolation(logger, session.Id, session.RemoteAddress, endpoint, violation.Problem, (int)violation.Status);
        }
    }
}
