using System.Net;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Security;

/// <summary>Certificates change on disk while the gateway runs: new handshakes get the new one, open connections carry on.</summary>
public sealed class CertificateReloadTests(TestCertificates certificates) : IClassFixture<TestCertificates>
{
    /// <summary>A TLS line echo endpoint and the HTTPS port, both on certificate files in a folder of the test's own.</summary>
    private static string[] Settings(string folder) =>
    [
        "Gateway:Endpoints:secure:Port=0",
        "Gateway:Endpoints:secure:Framing:Kind=Line",
        "Gateway:Endpoints:secure:Publish=echo/{connectionId}",
        "Gateway:Endpoints:secure:Subscribe:0=echo/{connectionId}",
        $"Gateway:Endpoints:secure:Tls:Certificate:Path={Path.Combine(folder, "server.crt")}",
        $"Gateway:Endpoints:secure:Tls:Certificate:KeyPath={Path.Combine(folder, "server.key")}",
        "Gateway:Https:Port=0",
        $"Gateway:Https:Certificate:Path={Path.Combine(folder, "server.crt")}",
        $"Gateway:Https:Certificate:KeyPath={Path.Combine(folder, "server.key")}",
    ];

    [Fact]
    public async Task A_renewed_certificate_serves_new_handshakes_while_an_open_connection_keeps_working()
    {
        var folder = CopyOfServerCertificate();
        await using var gateway = await TestGateway.StartAsync(Settings(folder));
        await using var before = await TlsLineClient.ConnectAsync(gateway.EndPointOf("secure"), certificates.CaCertificate, clientCertificate: null);
        await before.SendLineAsync("before");
        Assert.Equal("before", await before.ReadLineAsync());

        var renewed = await RenewServerCertificateAsync();
        Replace(folder, renewed);

        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "CertificateReloaded" && line.Message.Contains("of secure", StringComparison.Ordinal));
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "CertificateReloaded" && line.Message.Contains("of https", StringComparison.Ordinal));
        await using var after = await TlsLineClient.ConnectAsync(gateway.EndPointOf("secure"), certificates.CaCertificate, clientCertificate: null);
        await using var https = await TlsLineClient.ConnectAsync(HttpsEndPoint(gateway), certificates.CaCertificate, clientCertificate: null);
        Assert.NotEqual(before.ServerThumbprint, after.ServerThumbprint);
        Assert.Equal(after.ServerThumbprint, https.ServerThumbprint);
        await after.SendLineAsync("after");
        Assert.Equal("after", await after.ReadLineAsync());
        await before.SendLineAsync("still here");
        Assert.Equal("still here", await before.ReadLineAsync());
    }

    [Fact]
    public async Task A_replacement_that_cannot_be_read_is_logged_and_the_current_certificate_stays()
    {
        var folder = CopyOfServerCertificate();
        await using var gateway = await TestGateway.StartAsync(Settings(folder));
        await using var before = await TlsLineClient.ConnectAsync(gateway.EndPointOf("secure"), certificates.CaCertificate, clientCertificate: null);

        await File.WriteAllTextAsync(Path.Combine(folder, "server.crt"), "not a certificate");

        var failed = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "CertificateReloadFailed");
        Assert.Contains("could not be read as a certificate", failed.Message, StringComparison.Ordinal);
        await using var after = await TlsLineClient.ConnectAsync(gateway.EndPointOf("secure"), certificates.CaCertificate, clientCertificate: null);
        Assert.Equal(before.ServerThumbprint, after.ServerThumbprint);
        await after.SendLineAsync("same certificate");
        Assert.Equal("same certificate", await after.ReadLineAsync());
    }

    private static IPEndPoint HttpsEndPoint(TestGateway gateway) => new(IPAddress.Loopback, gateway.HttpsAddress.Port);

    private string CopyOfServerCertificate()
    {
        var folder = Directory.CreateTempSubdirectory("gateway-reload-").FullName;
        File.Copy(certificates.ServerCertificate, Path.Combine(folder, "server.crt"));
        File.Copy(certificates.ServerKey, Path.Combine(folder, "server.key"));
        return folder;
    }

    /// <summary>A new server key and certificate from the same CA, made by make-certs.sh in a copy of the CA's folder.</summary>
    private async Task<string> RenewServerCertificateAsync()
    {
        var folder = Directory.CreateTempSubdirectory("gateway-renewed-").FullName;
        File.Copy(certificates.CaCertificate, Path.Combine(folder, "ca.crt"));
        File.Copy(Path.Combine(certificates.Trusted, "ca.key"), Path.Combine(folder, "ca.key"));
        await using var script = ProcessRunner.Start("bash", [Path.Combine(RepositoryPaths.Root, "deploy", "certs", "make-certs.sh"), folder, "unused"]);
        Assert.Equal(0, await script.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        return folder;
    }

    /// <summary>Puts the renewed files in place as a deployment would: each written aside, then renamed over the old one.</summary>
    private static void Replace(string folder, string renewed)
    {
        foreach (var name in new[] { "server.key", "server.crt" })
        {
            var staged = Path.Combine(folder, name + ".new");
            File.Copy(Path.Combine(renewed, name), staged);
            File.Move(staged, Path.Combine(folder, name), overwrite: true);
        }
    }
}
