using System.Security.Cryptography;
using System.Text;
using Gateway.Configuration;

namespace Gateway.Security;

/// <summary>
/// The configured API keys, known only by their SHA-256 digests: a leaked configuration gives no key away. Keys are
/// random secrets, not passwords, so one fast digest suffices; a slow password hash would only slow every request.
/// </summary>
internal sealed class ApiKeys
{
    private readonly Dictionary<string, string> _identityByDigest = new(StringComparer.Ordinal);

    public ApiKeys(IEnumerable<ApiKeyOptions> keys)
    {
        foreach (var key in keys)
            _identityByDigest[key.Sha256!.ToLowerInvariant()] = key.Identity!;
    }

    public bool IsEmpty => _identityByDigest.Count == 0;

    /// <summary>The identity the key was issued to, or null for an unknown key.</summary>
    public string? IdentityOf(string key)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(key), digest);
        // The lookup's timing depends on the digest, not on the key: it tells a guesser nothing useful.
        return _identityByDigest.GetValueOrDefault(Convert.ToHexStringLower(digest));
    }

    /// <summary>Whether <paramref name="digest"/> has the form of a SHA-256 digest in hex.</summary>
    public static bool IsDigest(string? digest) => digest is { Length: SHA256.HashSizeInBytes * 2 } && digest.All(char.IsAsciiHexDigit);
}
