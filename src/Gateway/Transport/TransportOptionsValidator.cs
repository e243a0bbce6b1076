using Gateway.Configuration;

namespace Gateway.Transport;

/// <summary>Checks <c>Gateway:Transport</c>.</summary>
internal sealed class TransportOptionsValidator : GatewayOptionsCheck
{
    protected override void Check(GatewayOptions options, List<string> errors)
    {
        var transport = options.Transport;
        if (transport.IOQueueCount is < 0 or > 64)
            errors.Add($"{Root}:Transport:IOQueueCount must be between 0 and 64 (was {transport.IOQueueCount}).");
        if (transport.EpollLoops is < 1 or > 64)
            errors.Add($"{Root}:Transport:EpollLoops must be between 1 and 64 (was {transport.EpollLoops}).");
        if (transport.Kind == TransportKind.Epoll && !OperatingSystem.IsLinux())
            errors.Add($"{Root}:Transport:Kind Epoll needs Linux; use Sockets on this system.");
    }
}
