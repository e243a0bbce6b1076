using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Security;

/// <summary>TLS settings that cannot work stop the start and name the setting.</summary>
public sealed class TlsConfigurationTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    private string[] Secure(params string[] overrides) =>
    [
        "Gateway:Endpoints:secure:Port=0",
        "Gateway:Endpoints:secure:Publish=echo/{connectionId}",
        "Gateway:Endpoints:secure:Subscribe:0=echo/{connectionId}",
        $"Gateway:Endpoints:secure:Tls:Certificate:Path={certificates.ServerCertificate}",
        $"Gateway:Endpoints:secure:Tls:Certificate:KeyPath={certificates.ServerKey}",
        .. overrides,
    ];

    [Fact]
    public async Task A_missing_certificate_file_names_the_setting_and_the_file()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() =>
            TestGateway.StartAsync(Secure("Gateway:Endpoints:secure:Tls:Certificate:Path=/nonexistent/server.crt")));

        Assert.Contains("Gateway:Endpoints:secure:Tls:Certificate:Path: file '/nonexistent/server.crt' does not exist", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_file_that_is_not_a_certificate_names_the_setting()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() =>
            TestGateway.StartAsync(Secure($"Gateway:Endpoints:secure:Tls:Certificate:Path={certificates.ServerKey}")));

        Assert.Contains("Gateway:Endpoints:secure:Tls:Certificate:Path: ", failure.Message, StringComparison.Ordinal);
        Assert.Contains("could not be read as a certificate", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_certificate_as_the_server_certificate_names_the_setting()
    {
        var (certificate, key) = certificates.Client("device1");
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(Secure(
            $"Gateway:Endpoints:secure:Tls:Certificate:Path={certificate}", $"Gateway:Endpoints:secure:Tls:Certificate:KeyPath={key}")));

        Assert.Contains("Gateway:Endpoints:secure:Tls:Certificate:Path: ", failure.Message, StringComparison.Ordinal);
        Assert.Contains("does not include Server Authentication", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_PKCS12_password_names_the_setting()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(Secure(
            $"Gateway:Endpoints:secure:Tls:Certificate:Path={certificates.ServerPkcs12}",
            "Gateway:Endpoints:secure:Tls:Certificate:KeyPath=",
            "Gateway:Endpoints:secure:Tls:Certificate:Password=wrong")));

        Assert.Contains("Gateway:Endpoints:secure:Tls:Certificate:Path: ", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requiring_client_certificates_without_an_authority_names_the_setting()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() =>
            TestGateway.StartAsync(Secure("Gateway:Endpoints:secure:Tls:ClientCertificateMode=RequireCertificate")));

        Assert.Contains("Gateway:Endpoints:secure:Tls:ClientCertificateAuthority: is required", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_clientId_template_without_required_client_certificates_names_the_setting()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() =>
            TestGateway.StartAsync(Secure("Gateway:Endpoints:secure:Publish=devices/{clientId}/up")));

        Assert.Contains("Gateway:Endpoints:secure:Publish uses {clientId}", failure.Message, StringComparison.Ordinal);
        Assert.Contains("Tls:ClientCertificateMode to RequireCertificate", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_HTTPS_certificate_that_is_missing_names_the_Https_setting()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(
            "Gateway:Https:Port=0",
            "Gateway:Https:Certificate:Path=/nonexistent/https.crt",
            $"Gateway:Https:Certificate:KeyPath={certificates.ServerKey}"));

        Assert.Contains("Gateway:Https:Certificate:Path: file '/nonexistent/https.crt' does not exist", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_HTTPS_port_equal_to_the_HTTP_port_names_both()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync(
            "Gateway:Http:Port=18080",
            "Gateway:Https:Port=18080",
            $"Gateway:Https:Certificate:Path={certificates.ServerCertificate}",
            $"Gateway:Https:Certificate:KeyPath={certificates.ServerKey}"));

        Assert.Contains("Gateway:Https:Port 18080 is also used by Gateway:Http", failure.Message, StringComparison.Ordinal);
    }
}
