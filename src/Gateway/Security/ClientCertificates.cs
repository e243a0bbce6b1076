using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Gateway.Configuration;

namespace Gateway.Security;

/// <summary>Decides whether a client certificate is trusted, and which of its names is the client's identity.</summary>
internal sealed class ClientCertificates(X509Certificate2Collection authorities, X509RevocationMode revocationMode, ClientIdentitySource identityFrom)
{
    private static readonly Oid s_clientAuthentication = new("1.3.6.1.5.5.7.3.2", "Client Authentication");

    /// <summary>The trusted authorities' thumbprints, to tell whether a reload changed them.</summary>
    public string AuthorityThumbprints { get; } = string.Join(",", authorities.Select(authority => authority.Thumbprint));

    /// <summary>
    /// True when the certificate chains to one of the configured authorities, is within its validity period, may be
    /// used for client authentication and, when asked, is not revoked. The system's trust store plays no part.
    /// </summary>
    public bool IsTrusted(X509Certificate2 certificate, out string problem)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(authorities);
        chain.ChainPolicy.RevocationMode = revocationMode;
        chain.ChainPolicy.ApplicationPolicy.Add(s_clientAuthentication);
        if (chain.Build(certificate))
        {
            problem = "";
            return true;
        }

        problem = string.Join("; ", chain.ChainStatus.Select(status => $"{status.Status}: {status.StatusInformation.Trim()}"));
        return false;
    }

    /// <summary>The configured name of the certificate, or null when it has none.</summary>
    public string? IdentityOf(X509Certificate2 certificate)
    {
        var identity = identityFrom switch
        {
            ClientIdentitySource.CommonName => CommonNameOf(certificate),
            ClientIdentitySource.DnsName => certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault()?.EnumerateDnsNames().FirstOrDefault(),
            ClientIdentitySource.Email => certificate.GetNameInfo(X509NameType.EmailName, forIssuer: false),
            ClientIdentitySource.Uri => certificate.GetNameInfo(X509NameType.UrlName, forIssuer: false),
            _ => null,
        };
        return string.IsNullOrEmpty(identity) ? null : identity;
    }

    private static string? CommonNameOf(X509Certificate2 certificate)
    {
        foreach (var name in certificate.SubjectName.EnumerateRelativeDistinguishedNames())
        {
            if (name.GetSingleElementType().Value == "2.5.4.3") return name.GetSingleElementValue();
        }

        return null;
    }
}
