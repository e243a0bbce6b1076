using System.Net;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Http;

namespace Gateway.Routing.Tunnels;

/// <summary>
/// The tunnels' endpoints, on the HTTP host's port: <c>connect</c> while <c>CONNECT</c> is on, and <c>tunnel</c>
/// while a bridge is configured. Tunnels over HTTPS count under the same names.
/// </summary>
internal sealed class TunnelEndpointCatalog(IOptions<GatewayOptions> gateway, ConnectAllowList allowList, HttpHostListener listener) : IEndpointCatalog
{
    public IEnumerable<IEndpointDescription> Endpoints { get; } = Describe(gateway.Value.Tunnels, allowList, listener);

    /// <summary>The endpoint names the tunnels use with these settings.</summary>
    public static IEnumerable<string> NamesInUse(TunnelsOptions tunnels)
    {
        if (tunnels.Connect.Allow.Count > 0) yield return ConnectTunnel.EndpointName;
        if (tunnels.Bridges.Count > 0) yield return WebSocketBridge.EndpointName;
    }

    private static List<IEndpointDescription> Describe(TunnelsOptions tunnels, ConnectAllowList allowList, HttpHostListener listener)
    {
        var endpoints = new List<IEndpointDescription>();
        if (allowList.IsEnabled)
            endpoints.Add(new TunnelEndpoint(ConnectTunnel.EndpointName, listener, "CONNECT to " + string.Join(", ", allowList.Destinations)));
        if (tunnels.Bridges.Count > 0)
            endpoints.Add(new TunnelEndpoint(WebSocketBridge.EndpointName, listener,
                string.Join(", ", tunnels.Bridges.Select(bridge => $"{WebSocketBridge.PathPrefix}/{bridge.Key} to {bridge.Value.Target}"))));
        return endpoints;
    }

    /// <summary>Tunnels publish and subscribe to nothing; their traffic is their sessions', which the registry counts.</summary>
    private sealed class TunnelEndpoint(string name, HttpHostListener listener, string details) : IEndpointDescription
    {
        public string Name => name;

        public string Protocol => name;

        public EndPoint? BoundEndPoint => listener.BoundEndPoint;

        public string? Publish => null;

        public IReadOnlyList<string> Subscribe => [];

        public string Details => details;

        public bool Tls => false;

        public long? FailedTlsHandshakes => null;

        public long? FramingErrors => null;

        public string TrafficUnit => "frame";

        public EndpointTraffic? Traffic => null;

        public IEnumerable<(string Reason, long Count)> Drops => [];
    }
}
