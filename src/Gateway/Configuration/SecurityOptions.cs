namespace Gateway.Configuration;

/// <summary>
/// Who may do what (<c>Gateway:Security</c>). With nothing set, as by default, every peer may publish and subscribe
/// to every topic and use the admin API. Once <see cref="Permissions"/> or <see cref="DefaultPermissions"/> is set,
/// each identity gets only what its entry allows.
/// </summary>
/// <remarks>
/// An identity is the name a client certificate carries (see <see cref="TlsOptions.IdentityFrom"/>) or the identity
/// an API key is issued to. Peers without one (plaintext TCP, UDP, HTTP without a key) are anonymous.
/// </remarks>
public sealed class SecurityOptions
{
    /// <summary>
    /// When true, the HTTP API (<c>/api/...</c>) and WebSocket (<c>/ws</c>) answer 401 to a caller with neither an API
    /// key nor a trusted client certificate. <c>/healthz</c> and the OpenAPI document stay open. Defaults to false.
    /// </summary>
    public bool RequireAuthentication { get; set; }

    /// <summary>API keys, each stored as the SHA-256 of the key, never the key itself.</summary>
    public List<ApiKeyOptions> ApiKeys { get; set; } = [];

    /// <summary>Allow-lists by identity. An identity with an entry gets exactly that entry.</summary>
    public Dictionary<string, PermissionOptions> Permissions { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// What anonymous peers, and identities without an entry in <see cref="Permissions"/>, may do. Unset while
    /// <see cref="Permissions"/> has entries: nothing.
    /// </summary>
    public PermissionOptions? DefaultPermissions { get; set; }
}

/// <summary>One API key: the identity it is issued to and the key's SHA-256 digest.</summary>
public sealed class ApiKeyOptions
{
    /// <summary>The identity the key authenticates; its entry in <see cref="SecurityOptions.Permissions"/> applies.</summary>
    public string? Identity { get; set; }

    /// <summary>SHA-256 of the key's UTF-8 bytes, 64 hex digits (<c>printf %s "$KEY" | sha256sum</c>).</summary>
    public string? Sha256 { get; set; }
}

/// <summary>What one identity may do. Filters use '+' and '#' as subscriptions do.</summary>
public sealed class PermissionOptions
{
    /// <summary>Topic filters the identity may publish to; a topic must match one.</summary>
    public List<string> Publish { get; set; } = [];

    /// <summary>Topic filters the identity may subscribe within; a subscription must be as narrow as one of them.</summary>
    public List<string> Subscribe { get; set; } = [];

    /// <summary>Whether the identity may use the admin API: list endpoints and connections, disconnect peers.</summary>
    public bool Admin { get; set; }
}
