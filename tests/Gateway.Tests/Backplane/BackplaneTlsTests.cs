using Gateway.Tests.Infrastructure;
using Gateway.Tests.Security;
using static Gateway.Tests.Backplane.BackplaneTests;

namespace Gateway.Tests.Backplane;

/// <summary>The link to a NATS server that requires TLS and client certificates from a private CA (the seeds' TLS client).</summary>
public sealed class BackplaneTlsTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    private string[] ServerTls =>
    [
        "--tls", "--tlscert", certificates.ServerCertificate, "--tlskey", certificates.ServerKey,
        "--tlscacert", certificates.CaCertificate, "--tlsverify",
    ];

    [Fact]
    public async Task The_link_verifies_the_server_against_the_private_CA_and_presents_its_client_certificate()
    {
        await using var nats = await NatsServer.StartAsync(ServerTls);
        var (certificate, key) = certificates.Client("device1");
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Backplane:Kind=Nats", $"Gateway:Backplane:Urls:0=tls://127.0.0.1:{nats.Port}",
            $"Gateway:Backplane:Tls:CertificateAuthority={certificates.CaCertificate}",
            $"Gateway:Backplane:Tls:ClientCertificate:Path={certificate}",
            $"Gateway:Backplane:Tls:ClientCertificate:KeyPath={key}");

        await Eventually.TrueAsync(() => Link(gateway).Probe.IsFlowing, "the link flows over TLS", TimeSpan.FromSeconds(15));
    }

    [Fact]
    public async Task Without_a_client_certificate_the_server_refuses_the_link_and_it_never_flows()
    {
        await using var nats = await NatsServer.StartAsync(ServerTls);
        await using var gateway = await TestGateway.StartAsync(
            "Gateway:Backplane:Kind=Nats", $"Gateway:Backplane:Urls:0=tls://127.0.0.1:{nats.Port}",
            $"Gateway:Backplane:Tls:CertificateAuthority={certificates.CaCertificate}",
            "Gateway:Backplane:ProbeInterval=00:00:00.200");

        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.False(Link(gateway).Probe.IsFlowing);
        Assert.Null(Link(gateway).Probe.LastAnsweredAt);
    }

    [Fact]
    public async Task A_client_certificate_file_that_is_missing_stops_the_start_naming_the_setting()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(
            "Gateway:Backplane:Kind=Nats", "Gateway:Backplane:Urls:0=tls://127.0.0.1:4222",
            "Gateway:Backplane:Tls:ClientCertificate:Path=/nonexistent/client.crt"));
        Assert.Contains("Gateway:Backplane:Tls:ClientCertificate:Path", failure.Message);
    }
}
