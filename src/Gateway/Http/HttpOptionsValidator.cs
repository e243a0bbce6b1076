using Gateway.Configuration;

namespace Gateway.Http;

/// <summary>Checks <c>Gateway:Http</c> (its port, publishes and event streams) and <c>Gateway:Https</c>.</summary>
internal sealed class HttpOptionsValidator : GatewayOptionsCheck
{
    protected override void Check(GatewayOptions options, List<string> errors)
    {
        var http = options.Http;
        var path = $"{Root}:Http";
        CheckAddress(http.Address, $"{path}:Address", errors);
        CheckPort(http.Port, $"{path}:Port", errors);
        if (http.MaxPublishBytes <= 0)
            errors.Add($"{path}:MaxPublishBytes must be positive (was {http.MaxPublishBytes}).");
        errors.AddRange(http.Limits.Validate($"{path}:Limits", canPause: true));
        if (http.RequestHeadersTimeout <= TimeSpan.Zero)
            errors.Add($"{path}:RequestHeadersTimeout must be positive (was {http.RequestHeadersTimeout}).");
        if (http.IdleTimeout <= TimeSpan.Zero)
            errors.Add($"{path}:IdleTimeout must be positive (was {http.IdleTimeout}).");
        if (http.Sse.HistoryPerTopic < 0)
            errors.Add($"{path}:Sse:HistoryPerTopic must not be negative (was {http.Sse.HistoryPerTopic}); 0 turns history off.");
        if (http.Sse.MaxHistoryTopics <= 0)
            errors.Add($"{path}:Sse:MaxHistoryTopics must be positive (was {http.Sse.MaxHistoryTopics}).");
        if (http.Sse.HistoryRetention < TimeSpan.Zero)
            errors.Add($"{path}:Sse:HistoryRetention must not be negative (was {http.Sse.HistoryRetention}).");
        if (http.Sse.KeepAliveInterval <= TimeSpan.Zero)
            errors.Add($"{path}:Sse:KeepAliveInterval must be positive (was {http.Sse.KeepAliveInterval}).");
        CheckOutbox(http.Sse.Outbox, $"{path}:Sse", errors);
        if (http.Sse.IdleTimeout < TimeSpan.Zero)
            errors.Add($"{path}:Sse:IdleTimeout must not be negative (was {http.Sse.IdleTimeout}); 0 turns the idle timeout off.");
        errors.AddRange(http.Sse.Limits.Validate($"{path}:Sse:Limits", canPause: true, sendsMessages: false));

        if (!options.Https.IsEnabled) return;
        CheckAddress(options.Https.Address, $"{Root}:Https:Address", errors);
        CheckPort(options.Https.Port, $"{Root}:Https:Port", errors);
        CheckTls($"{Root}:Https", options.Https, errors);
    }
}
