using System.Net;
using Gateway.Configuration;
using Gateway.Connections;
using Gateway.Tests.Infrastructure;
using Gateway.Tests.Udp;
using Microsoft.Extensions.DependencyInjection;

namespace Gateway.Tests.Limits;

/// <summary>
/// A UDP endpoint's cap of peers per source address: each source port is a peer, so without it one host could take every
/// place in the peer table and push the others out.
/// </summary>
public abstract class UdpAdmissionTests(TransportKind transport)
{
    [Fact]
    public async Task One_host_gets_no_more_peers_than_its_cap_while_another_host_is_served()
    {
        await using var gateway = await TestGateway.StartAsync(transport,
            "Gateway:Endpoints:udp:Protocol=Udp",
            "Gateway:Endpoints:udp:Port=0",
            "Gateway:Endpoints:udp:Publish=udp/{remote}",
            "Gateway:Endpoints:udp:Subscribe:0=udp/{remote}",
            "Gateway:Endpoints:udp:Limits:MaxConnectionsPerAddress=2");
        var server = gateway.UdpEndPointOf("udp");
        using var first = new UdpTestClient(server);
        using var second = new UdpTestClient(server);
        using var third = new UdpTestClient(server);
        using var otherHost = new UdpTestClient(server, IPAddress.Parse("127.0.0.2"));

        await first.SendAsync("one");
        Assert.Equal("one", await first.ReceiveTextAsync());
        await second.SendAsync("two");
        Assert.Equal("two", await second.ReceiveTextAsync());
        await third.SendAsync("three");
        await otherHost.SendAsync("other");
        Assert.Equal("other", await otherHost.ReceiveTextAsync());

        var refused = gateway.Services.GetRequiredService<Rejections>().For("udp", RejectionReasons.MaxConnectionsPerAddress);
        await Eventually.TrueAsync(() => refused.Value == 1, "the third sender from 127.0.0.1 is refused");
        Assert.Equal(3, gateway.UdpEndpoint("udp").Peers.Count);
    }
}

public sealed class UdpAdmissionTestsOnEpoll() : UdpAdmissionTests(TransportKind.Epoll);

public sealed class UdpAdmissionTestsOnSockets() : UdpAdmissionTests(TransportKind.Sockets);
