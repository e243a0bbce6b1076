using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Gateway.Tests.Security;

/// <summary>A line client over .NET's SslStream that trusts only the test CA.</summary>
internal sealed class TlsLineClient : IAsyncDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(20);

    private readonly TcpClient _tcp;
    private readonly SslStream _tls;
    private readonly StreamReader _reader;

    private TlsLineClient(TcpClient tcp, SslStream tls)
    {
        _tcp = tcp;
        _tls = tls;
        _reader = new StreamReader(tls, Encoding.UTF8);
    }

    public static async Task<TlsLineClient> ConnectAsync(IPEndPoint endPoint, string caPath, (string Certificate, string Key)? clientCertificate)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(endPoint);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            CertificateChainPolicy = TestCertificates.TrustOnly(caPath),
        };
        if (clientCertificate is var (certificate, key))
            options.ClientCertificates = [X509Certificate2.CreateFromPemFile(certificate, key)];
        var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(options);
        return new TlsLineClient(tcp, tls);
    }

    /// <summary>The SHA-1 thumbprint of the certificate the server presented in the handshake.</summary>
    public string ServerThumbprint => _tls.RemoteCertificate!.GetCertHashString();

    public async Task SendLineAsync(string line)
    {
        await _tls.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"));
        await _tls.FlushAsync();
    }

    public async Task<string?> ReadLineAsync() => await _reader.ReadLineAsync().WaitAsync(s_timeout);

    public async ValueTask DisposeAsync()
    {
        await _tls.DisposeAsync();
        _tcp.Dispose();
    }
}
