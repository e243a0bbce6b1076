using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Gateway.Configuration;
using Gateway.Http;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.Security;

/// <summary>TLS and mutual TLS on framed TCP endpoints, with openssl s_client, Node's tls module and .NET's SslStream as clients.</summary>
public abstract class TlsEndpointTests(TransportKind transport, TestCertificates certificates)
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    /// <summary>A line-framed echo endpoint "secure" behind TLS.</summary>
    private string[] Secure(string clientCertificateMode = "NoCertificate", params string[] extra) =>
    [
        "Gateway:Endpoints:secure:Port=0",
        "Gateway:Endpoints:secure:Framing:Kind=Line",
        "Gateway:Endpoints:secure:Publish=echo/{connectionId}",
        "Gateway:Endpoints:secure:Subscribe:0=echo/{connectionId}",
        $"Gateway:Endpoints:secure:Tls:Certificate:Path={certificates.ServerCertificate}",
        $"Gateway:Endpoints:secure:Tls:Certificate:KeyPath={certificates.ServerKey}",
        $"Gateway:Endpoints:secure:Tls:ClientCertificateMode={clientCertificateMode}",
        $"Gateway:Endpoints:secure:Tls:ClientCertificateAuthority={certificates.CaCertificate}",
        .. extra,
    ];

    [Fact]
    public async Task Openssl_s_client_verifies_the_server_and_gets_its_line_echoed()
    {
        await using var gateway = await StartAsync(Secure());

        await using var client = OpensslClient(gateway.EndPointOf("secure"), "hello over tls\n");

        // -verify_return_error: the echo only comes back if the chain to the private CA and the name "localhost" verified.
        await client.WaitForOutputAsync(output => output.Contains("hello over tls", StringComparison.Ordinal), s_timeout);
        Assert.Contains("depth=0 CN = localhost", client.StandardError + client.StandardOutput, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_PKCS12_server_certificate_serves_as_well_as_PEM_files()
    {
        await using var gateway = await StartAsync(Secure("NoCertificate",
            $"Gateway:Endpoints:secure:Tls:Certificate:Path={certificates.ServerPkcs12}",
            "Gateway:Endpoints:secure:Tls:Certificate:KeyPath="));

        await using var client = OpensslClient(gateway.EndPointOf("secure"), "pkcs12\n");

        await client.WaitForOutputAsync(output => output.Contains("pkcs12", StringComparison.Ordinal), s_timeout);
    }

    [Fact]
    public async Task Required_client_certificate_admits_openssl_with_one_and_refuses_it_without()
    {
        await using var gateway = await StartAsync(Secure("RequireCertificate"));
        var (certificate, key) = certificates.Client("device1");

        await using (var withCertificate = OpensslClient(gateway.EndPointOf("secure"), "mutual\n", "-cert", certificate, "-key", key))
            await withCertificate.WaitForOutputAsync(output => output.Contains("mutual", StringComparison.Ordinal), s_timeout);
        var opened = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ConnectionOpened");
        Assert.Contains("as device1", opened.Message, StringComparison.Ordinal);

        await using var without = OpensslClient(gateway.EndPointOf("secure"), "anonymous\n");
        await without.WaitForExitAsync(s_timeout);
        Assert.DoesNotContain("anonymous", without.StandardOutput, StringComparison.Ordinal);
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TlsHandshakeFailed");
    }

    [Fact]
    public async Task The_seeds_node_tls_client_connects_authorized_and_gets_its_line_back()
    {
        await using var gateway = await StartAsync(Secure("RequireCertificate"));

        var output = await NodeTlsClientAsync(gateway.EndPointOf("secure"), "device2", "from node");

        Assert.Contains("client connected authorized", output, StringComparison.Ordinal);
        Assert.Contains("received: from node", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("intruder", "PartialChain|UntrustedRoot")] // the chain cannot reach a trusted root

    [InlineData("expired", "NotTimeValid")]
    public async Task A_client_certificate_from_an_unknown_CA_or_expired_is_rejected_and_the_reason_logged(string client, string reason)
    {
        await using var gateway = await StartAsync(Secure("RequireCertificate"));

        var output = await NodeTlsClientAsync(gateway.EndPointOf("secure"), client, "let me in");

        Assert.DoesNotContain("received:", output, StringComparison.Ordinal);
        var rejected = await gateway.Logs.WaitForAsync(line => line.EventId.Name == "ClientCertificateRejected");
        Assert.Matches(reason, rejected.Message);
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TlsHandshakeFailed");
    }

    [Fact]
    public async Task Plaintext_sent_to_a_TLS_port_fails_the_handshake_is_counted_and_others_are_unaffected()
    {
        await using var gateway = await StartAsync(Secure());
        await using var plain = await FramedClient.ConnectAsync(gateway.EndPointOf("secure"));

        await plain.SendLineAsync("GET / HTTP/1.1");

        Assert.True(await plain.WaitForCloseAsync(s_timeout), "the plaintext connection stayed open");
        await gateway.Logs.WaitForAsync(line => line.EventId.Name == "TlsHandshakeFailed");
        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        var endpoints = await http.GetFromJsonAsync<List<AdminApi.EndpointInfo>>("/api/endpoints");
        var secure = Assert.Single(endpoints!, endpoint => endpoint.Name == "secure");
        Assert.True(secure.Tls);
        Assert.Equal(1, secure.FailedTlsHandshakes);

        await using var client = await TlsLineClient.ConnectAsync(gateway.EndPointOf("secure"), certificates.CaCertificate, clientCertificate: null);
        await client.SendLineAsync("still fine");
        Assert.Equal("still fine", await client.ReadLineAsync());
    }

    [Fact]
    public async Task ClientId_scopes_topics_to_the_certificate_a_device_sees_only_its_own_down_topic()
    {
        await using var gateway = await StartAsync(certificates.DevicesEndpoint);
        await using var device1 = await TlsLineClient.ConnectAsync(gateway.EndPointOf("devices"), certificates.CaCertificate, certificates.Client("device1"));
        await using var device2 = await TlsLineClient.ConnectAsync(gateway.EndPointOf("devices"), certificates.CaCertificate, certificates.Client("device2"));
        await gateway.WaitForConnectionsAsync(2);

        using var http = new HttpClient { BaseAddress = gateway.HttpAddress };
        (await http.PostAsync("/api/topics/devices/device2/down", new StringContent("for device2 only"))).EnsureSuccessStatusCode();
        (await http.PostAsync("/api/topics/devices/device1/down", new StringContent("for device1 only"))).EnsureSuccessStatusCode();

        Assert.Equal("for device1 only", await device1.ReadLineAsync());
        Assert.Equal("for device2 only", await device2.ReadLineAsync());
        var connections = await http.GetFromJsonAsync<List<AdminApi.ConnectionInfo>>("/api/connections");
        Assert.Equal(["device1", "device2"], connections!.Where(c => c.Endpoint == "devices").Select(c => c.Identity).Order());
    }

    private Task<TestGateway> StartAsync(params string[] settings) => TestGateway.StartAsync(transport, settings);

    private ProcessRunner OpensslClient(IPEndPoint endPoint, string input, params string[] extra) =>
        ProcessRunner.Start("openssl",
            ["s_client", "-connect", $"127.0.0.1:{endPoint.Port}", "-servername", "localhost", "-CAfile", certificates.CaCertificate,
             "-verify_return_error", "-quiet", .. extra],
            standardInput: input);

    /// <summary>The seed document's tls.connect client (key, cert, ca, rejectUnauthorized) sending one line.</summary>
    private async Task<string> NodeTlsClientAsync(IPEndPoint endPoint, string client, string line)
    {
        const string script = """
            const tls = require('tls'); const fs = require('fs');
            const [port, ca, cert, key, line] = process.argv.slice(1);
            const stream = tls.connect({ host: '127.0.0.1', port: Number(port), servername: 'localhost',
              key: fs.readFileSync(key), cert: fs.readFileSync(cert), ca: [fs.readFileSync(ca)], rejectUnauthorized: true }, () => {
              console.log('client connected', stream.authorized ? 'authorized' : 'unauthorized');
              stream.write(line + '\n');
            });
            stream.setEncoding('utf8');
            stream.on('data', (data) => { process.stdout.write('received: ' + data); stream.end(); });
            stream.on('error', (error) => console.log('error: ' + (error.code || '') + ' ' + error.message));
            stream.on('close', () => console.log('closed'));
            setTimeout(() => { console.log('timed out'); process.exit(1); }, 10000).unref();
            """;
        var (certificate, key) = certificates.Client(client);
        await using var node = ProcessRunner.Start("node", ["-e", script, endPoint.Port.ToString(), certificates.CaCertificate, certificate, key, line]);
        await node.WaitForExitAsync(s_timeout);
        return node.StandardOutput;
    }
}

public sealed class TlsEndpointTestsOnEpoll(TestCertificates certificates) : TlsEndpointTests(TransportKind.Epoll, certificates), IClassFixture<TestCertificates>;

public sealed class TlsEndpointTestsOnSockets(TestCertificates certificates) : TlsEndpointTests(TransportKind.Sockets, certificates), IClassFixture<TestCertificates>;
