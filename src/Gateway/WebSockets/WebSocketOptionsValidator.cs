using Gateway.Configuration;

namespace Gateway.WebSockets;

/// <summary>Checks <c>Gateway:Http:WebSocket</c>.</summary>
internal sealed class WebSocketOptionsValidator : GatewayOptionsCheck
{
    protected override void Check(GatewayOptions options, List<string> errors)
    {
        var webSocket = options.Http.WebSocket;
        var path = $"{Root}:Http:WebSocket";
        if (webSocket.MaxMessageBytes <= 0)
            errors.Add($"{path}:MaxMessageBytes must be positive (was {webSocket.MaxMessageBytes}).");
        if (webSocket.KeepAliveInterval < TimeSpan.Zero)
            errors.Add($"{path}:KeepAliveInterval must not be negative (was {webSocket.KeepAliveInterval}); 0 turns pings off.");
        if (webSocket.KeepAliveTimeout < TimeSpan.Zero)
            errors.Add($"{path}:KeepAliveTimeout must not be negative (was {webSocket.KeepAliveTimeout}).");
        CheckOutbox(webSocket.Outbox, path, errors);
        if (webSocket.IdleTimeout < TimeSpan.Zero)
            errors.Add($"{path}:IdleTimeout must not be negative (was {webSocket.IdleTimeout}); 0 turns the idle timeout off.");
        if (webSocket.LingerTimeout < TimeSpan.Zero)
            errors.Add($"{path}:LingerTimeout must not be negative (was {webSocket.LingerTimeout}); 0 turns lingering off.");
        errors.AddRange(webSocket.Limits.Validate($"{path}:Limits", canPause: true));
        foreach (var origin in webSocket.AllowedOrigins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.AbsolutePath != "/" || origin.EndsWith('/'))
                errors.Add($"{path}:AllowedOrigins: '{origin}' is not an origin (scheme://host[:port], no path).");
        }
    }
}
