using Gateway.Configuration;
using Gateway.Messaging;

namespace Gateway.Backplane;

/// <summary>Which backplane joins this instance's topic space to other instances'.</summary>
public enum BackplaneKind
{
    /// <summary>None: the in-process bus alone, the embedded default.</summary>
    None,

    /// <summary>NATS: instances share topics through a NATS server or cluster.</summary>
    Nats,
}

/// <summary>
/// <c>Gateway:Backplane</c>: the NATS link that lets several instances share one topic space. Each instance subscribes on
/// NATS to what its own peers subscribe to, delivers its own publishes locally without a round trip, and sends them
/// to NATS once.
/// </summary>
public sealed class BackplaneOptions
{
    /// <summary><c>None</c> (the default) or <c>Nats</c>.</summary>
    public BackplaneKind Kind { get; set; } = BackplaneKind.None;

    /// <summary>Seed URLs of the NATS cluster (<c>nats://host:4222</c>, <c>tls://host:4222</c>); the client fails over between them and the servers the cluster announces.</summary>
    public List<string> Urls { get; set; } = [];

    /// <summary>User name, with <see cref="Password"/>; one kind of credentials at most.</summary>
    public string? Username { get; set; }

    public string? Password { get; set; }

    /// <summary>A token the server was started with.</summary>
    public string? Token { get; set; }

    /// <summary>A <c>.creds</c> file (a user JWT and its NKey seed), as <c>nsc</c> writes it.</summary>
    public string? CredentialsFile { get; set; }

    /// <summary>A file holding an NKey seed (<c>SU...</c>).</summary>
    public string? NKeyFile { get; set; }

    /// <summary>TLS to NATS: the authorities that sign the servers' certificates, and this instance's client certificate.</summary>
    public BackplaneTlsOptions Tls { get; set; } = new();

    /// <summary>The first subject token(s) of every topic, so several deployments can share one NATS. Defaults to <c>gw</c>.</summary>
    public string SubjectPrefix { get; set; } = "gw";

    /// <summary>
    /// The queue of messages on their way to NATS. While NATS is unreachable it fills, and its overflow policy
    /// (<c>DropOldest</c>, the default, or <c>DropNewest</c>) decides; every drop is counted. Defaults to 65,536 messages.
    /// </summary>
    public OutboxOptions Outbox { get; set; } = new() { Capacity = 65_536 };

    /// <summary>How often a probe message makes a round trip through NATS and back through a subscription. Defaults to 1 second.</summary>
    public TimeSpan ProbeInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The link counts as down when no probe has come back for this long, whatever the client believes. Defaults to 3 seconds.</summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// Whether a down link makes <c>/readyz</c> fail (503). Defaults to false: the link's check reports Degraded and the
    /// instance stays ready, since its own peers are still served; with every instance sharing one NATS, failing them
    /// all at once would turn a broker fault into a full outage.
    /// </summary>
    public bool RequiredForReadiness { get; set; }

    /// <summary>The event streams' history in a JetStream stream shared by every instance; off by default (each instance keeps its own).</summary>
    public BackplaneHistoryOptions History { get; set; } = new();

    public bool IsEnabled => Kind != BackplaneKind.None;
}

/// <summary>
/// <c>Gateway:Backplane:History</c>: with it on, every message sent to NATS is also kept in a JetStream stream, event
/// streams read from it, and their event ids are the stream's sequence numbers, the same on every instance, so a
/// client that reconnects to any instance with <c>Last-Event-ID</c> resumes where it left off, as far back as the stream keeps.
/// </summary>
public sealed class BackplaneHistoryOptions
{
    public bool Enabled { get; set; }

    /// <summary>The JetStream stream's name. Defaults to the subject prefix with '.' as '_', then "_history" (gw_history).</summary>
    public string? Stream { get; set; }

    /// <summary>Messages older than this leave the stream. Defaults to 24 hours.</summary>
    public TimeSpan MaxAge { get; set; } = TimeSpan.FromHours(24);

    /// <summary>The stream keeps at most this many messages of each topic, the newest. Defaults to 1,000.</summary>
    public long MaxMessagesPerTopic { get; set; } = 1000;

    /// <summary><c>File</c> (the default: the history survives a NATS restart) or <c>Memory</c>.</summary>
    public HistoryStorage Storage { get; set; } = HistoryStorage.File;

    /// <summary>Copies of the stream in a NATS cluster (1 to 5). Defaults to 1.</summary>
    public int Replicas { get; set; } = 1;

    public string StreamName(string subjectPrefix) => Stream ?? subjectPrefix.Replace('.', '_') + "_history";
}

/// <summary>Where the NATS servers keep the history stream.</summary>
public enum HistoryStorage
{
    File,
    Memory,
}

/// <summary>TLS to the NATS servers (<c>Gateway:Backplane:Tls</c>).</summary>
public sealed class BackplaneTlsOptions
{
    /// <summary>PEM file of the authorities the servers' certificates must chain to (a private CA); unset: the system's.</summary>
    public string? CertificateAuthority { get; set; }

    /// <summary>This instance's client certificate, in the same form as the endpoints' certificates (PEM and key, or PKCS#12).</summary>
    public CertificateFileOptions ClientCertificate { get; set; } = new();

    /// <summary>Whether TLS is asked for: a CA, a client certificate or a <c>tls://</c> URL turns it on.</summary>
    public bool IsConfigured => CertificateAuthority is not null || ClientCertificate.Path is not null;
}
