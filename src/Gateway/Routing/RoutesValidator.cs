using Gateway.Configuration;
using Gateway.Messaging;
using Gateway.Protocols.Framing;
using Gateway.Protocols.Topics;
using Gateway.Security;

namespace Gateway.Routing;

/// <summary>Checks every route under <c>Gateway:Routes</c>; each problem names its setting.</summary>
internal sealed class RoutesValidator : GatewayOptionsCheck
{
    // Polly's bounds for its timeouts and breaker, named here so the start fails with the setting rather than Polly's message.
    private static readonly TimeSpan s_minTimeout = TimeSpan.FromMilliseconds(10), s_maxTimeout = TimeSpan.FromDays(1);
    private static readonly TimeSpan s_minBreakerDuration = TimeSpan.FromMilliseconds(500);

    protected override void Check(GatewayOptions options, List<string> errors)
    {
        if (options.Routes.Count == 0) return;
        PermissionPolicy? permissions;
        try
        {
            permissions = new PermissionPolicy(Microsoft.Extensions.Options.Options.Create(options));
        }
        catch (TopicException)
        {
            // A permission filter that does not parse: the security section's check names it, and routes' identities wait for it.
            permissions = null;
        }

        foreach (var (name, route) in options.Routes)
            CheckRoute($"{Root}:Routes:{name}", name, route, options, permissions, errors);
    }

    private static void CheckRoute(string path, string name, RouteOptions route, GatewayOptions options, PermissionPolicy? permissions, List<string> errors)
    {
        if (options.Endpoints.ContainsKey(name))
            errors.Add($"{path}: an endpoint has the name '{name}' too; a route's messages are published under its name, so give it another.");
        if (route.From.Count == 0)
            errors.Add($"{path}:From needs at least one topic filter.");
        var filters = new List<TopicFilter>();
        for (var i = 0; i < route.From.Count; i++)
        {
            if (!TopicFilter.TryParse(route.From[i], out var filter, out var error))
                errors.Add($"{path}:From:{i}: {error}");
            else if (permissions is not null && !permissions.For(route.Identity).MaySubscribe(filter))
                errors.Add($"{path}:From:{i} '{filter}' is not within what {route.Identity ?? PermissionPolicy.Anonymous} may subscribe to (Gateway:Security:Permissions); set {path}:Identity or widen its permissions.");
            else
                filters.Add(filter);
        }

        var kind = route.To.Kind;
        CheckTemplate(path, nameof(route.ReplyTopic), route.ReplyTopic, perMessage: kind == UpstreamKind.Http, filters, errors);
        CheckTemplate(path, nameof(route.DeadLetter), route.DeadLetter, perMessage: true, filters, errors);
        CheckUpstream($"{path}:To", route.To, errors);
        CheckQueue(path, route, errors);
    }

    private static void CheckTemplate(string path, string setting, string? template, bool perMessage, List<TopicFilter> from, List<string> errors)
    {
        if (template is null) return;
        if (!TopicTemplate.TryParse(template, TemplateKind.Topic, out var parsed, out var error))
        {
            errors.Add($"{path}:{setting}: {error}");
            return;
        }

        if (!perMessage && !parsed.IsConstant)
            errors.Add($"{path}:{setting} '{template}' has placeholders, but a TCP or UDP upstream's frames answer no one message; use a fixed topic.");
        else if (parsed.RequiresClientId)
            errors.Add($"{path}:{setting} '{template}' uses {{clientId}}, which a message does not carry; use {{connectionId}}, {{endpoint}} or {{remote}}.");
        else if (parsed.IsConstant && from.FirstOrDefault(filter => filter.Matches(template)) is { } loop)
            errors.Add($"{path}:{setting} '{template}' matches the route's own filter '{loop}': its messages would come back to it.");
    }

    private static void CheckUpstream(string path, UpstreamOptions to, List<string> errors)
    {
        switch (to.Kind)
        {
            case UpstreamKind.Http:
                if (!Uri.TryCreate(to.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
                    errors.Add($"{path}:Url '{to.Url}' is not an absolute http:// or https:// URL.");
                if (to.HttpVersion is not ("1.1" or "2"))
                    errors.Add($"{path}:HttpVersion '{to.HttpVersion}' is not 1.1 or 2.");
                if (string.IsNullOrWhiteSpace(to.Method) || to.Method.Any(c => !char.IsAsciiLetterUpper(c)))
                    errors.Add($"{path}:Method '{to.Method}' is not an HTTP method in capitals, such as POST or PUT.");
                if (to.MaxConnections <= 0)
                    errors.Add($"{path}:MaxConnections must be positive (was {to.MaxConnections}).");
                if (to.MaxReplyBytes <= 0)
                    errors.Add($"{path}:MaxReplyBytes must be positive (was {to.MaxReplyBytes}).");
                if (to.PooledConnectionLifetime <= TimeSpan.Zero)
                    errors.Add($"{path}:PooledConnectionLifetime must be positive (was {to.PooledConnectionLifetime}).");
                if (to.PooledConnectionIdleTimeout <= TimeSpan.Zero)
                    errors.Add($"{path}:PooledConnectionIdleTimeout must be positive (was {to.PooledConnectionIdleTimeout}).");
                if (to.Tls is { } tls) CheckUpstreamTls($"{path}:Tls", tls, errors);
                break;
            case UpstreamKind.Tcp:
                if (!HostPort.TryParse(to.Address, out _))
                    errors.Add($"{path}:Address '{to.Address}' is not host:port with a port from 1 to 65535.");
                foreach (var error in FrameCodecFactory.Validate(to.Framing))
                    errors.Add($"{path}:Framing: {error}");
                break;
            case UpstreamKind.Udp:
                if (!HostPort.TryParseIPEndPoint(to.Address, out _))
                    errors.Add($"{path}:Address '{to.Address}' is not host:port with an IPv4 address, [IPv6 address] or localhost, and a port from 1 to 65535.");
                break;
        }
    }

    private static void CheckUpstreamTls(string path, UpstreamTlsOptions tls, List<string> errors)
    {
        try
        {
            if (tls.ClientCertificate is { } certificate) CertificateFiles.LoadWithKey(certificate).Dispose();
        }
        catch (CertificateFileException ex)
        {
            errors.Add($"{path}:ClientCertificate:{ex.Message}");
        }

        try
        {
            if (tls.CertificateAuthority is { } authority)
            {
                foreach (var certificate in CertificateFiles.LoadBundle(authority, nameof(tls.CertificateAuthority)))
                    certificate.Dispose();
            }
        }
        catch (CertificateFileException ex)
        {
            errors.Add($"{path}:{ex.Message}");
        }
    }

    private static void CheckQueue(string path, RouteOptions route, List<string> errors)
    {
        if (route.Queue.Capacity <= 0)
            errors.Add($"{path}:Queue:Capacity must be positive (was {route.Queue.Capacity}).");
        if (route.Queue.Overflow == OverflowPolicy.Disconnect)
            errors.Add($"{path}:Queue:Overflow Disconnect does not apply to a route, which cannot be disconnected; use DropOldest or DropNewest.");
        if (route.Ttl <= TimeSpan.Zero)
            errors.Add($"{path}:Ttl must be positive (was {route.Ttl}).");
        if (route.MaxInFlight <= 0)
            errors.Add($"{path}:MaxInFlight must be positive (was {route.MaxInFlight}).");
        CheckTimeout($"{path}:AttemptTimeout", route.AttemptTimeout, errors);
        CheckTimeout($"{path}:TotalTimeout", route.TotalTimeout, errors);

        var retry = route.Retry;
        if (retry.MaxRetries is < 0 or > 100)
            errors.Add($"{path}:Retry:MaxRetries must be between 0 and 100 (was {retry.MaxRetries}).");
        if (retry.BaseDelay < TimeSpan.Zero || retry.BaseDelay > s_maxTimeout)
            errors.Add($"{path}:Retry:BaseDelay must be between 0 and 1 day (was {retry.BaseDelay}).");
        if (retry.MaxDelay < retry.BaseDelay || retry.MaxDelay > s_maxTimeout)
            errors.Add($"{path}:Retry:MaxDelay must be at least BaseDelay and at most 1 day (was {retry.MaxDelay}).");

        var breaker = route.CircuitBreaker;
        if (breaker.FailureRatio is <= 0 or > 1)
            errors.Add($"{path}:CircuitBreaker:FailureRatio must be more than 0 and at most 1 (was {breaker.FailureRatio}).");
        if (breaker.MinimumThroughput < 2)
            errors.Add($"{path}:CircuitBreaker:MinimumThroughput must be at least 2 (was {breaker.MinimumThroughput}).");
        if (breaker.SamplingDuration < s_minBreakerDuration || breaker.SamplingDuration > s_maxTimeout)
            errors.Add($"{path}:CircuitBreaker:SamplingDuration must be between 0.5 seconds and 1 day (was {breaker.SamplingDuration}).");
        if (breaker.BreakDuration < s_minBreakerDuration || breaker.BreakDuration > s_maxTimeout)
            errors.Add($"{path}:CircuitBreaker:BreakDuration must be between 0.5 seconds and 1 day (was {breaker.BreakDuration}).");
    }

    private static void CheckTimeout(string path, TimeSpan timeout, List<string> errors)
    {
        if (timeout < s_minTimeout || timeout > s_maxTimeout)
            errors.Add($"{path} must be between 10 ms and 1 day (was {timeout}).");
    }
}
