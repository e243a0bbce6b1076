namespace Gateway.Overload;

/// <summary>
/// <c>Gateway:Overload</c>: protection of the process as a whole, after Envoy's overload manager. Past the high memory
/// threshold the gateway accepts no new connections (framed TCP, TLS and Unix sockets are closed at once, HTTP answers
/// 503 with <c>Retry-After</c>, UDP tracks no new senders) and <c>/readyz</c> fails; below the low threshold it accepts
/// again. Connections already open keep working: shedding them is the operator's choice, through the admin API.
/// </summary>
/// <remarks>
/// The measure is the process's working set (its resident memory, RSS): what the kernel's OOM killer and a container's
/// memory limit act on, and what an operator sees in <c>top</c> or <c>kubectl top</c>. The GC's heap alone misses the
/// pipes' pooled buffers and the sockets' native memory that an abusive peer costs.
/// </remarks>
public sealed class OverloadOptions
{
    /// <summary>Defaults to true; false turns the protection off (nothing is sampled, nothing is refused).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The high threshold, as a percentage of the memory the process may use
    /// (<see cref="GCMemoryInfo.TotalAvailableMemoryBytes"/>: the machine's memory, or the container's limit when one is
    /// set). Defaults to 90. <see cref="HighMemoryBytes"/>, when set, takes its place.
    /// </summary>
    public double HighMemoryPercent { get; set; } = 90;

    /// <summary>The low threshold, below which the gateway accepts again, as a percentage like <see cref="HighMemoryPercent"/>. Defaults to 80.</summary>
    public double LowMemoryPercent { get; set; } = 80;

    /// <summary>The high threshold in bytes; unset (the default), <see cref="HighMemoryPercent"/> applies.</summary>
    public long? HighMemoryBytes { get; set; }

    /// <summary>The low threshold in bytes; unset (the default), <see cref="LowMemoryPercent"/> applies.</summary>
    public long? LowMemoryBytes { get; set; }

    /// <summary>How often the working set is read. Defaults to 1 second; one read of a few bytes from /proc each time.</summary>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>The <c>Retry-After</c> of the HTTP 503 answered while overloaded, in whole seconds. Defaults to 5 seconds.</summary>
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The thresholds in bytes, for a process that may use <paramref name="availableBytes"/>.</summary>
    public MemoryThresholds Resolve(long availableBytes) =>
        new(HighMemoryBytes ?? PercentOf(availableBytes, HighMemoryPercent), LowMemoryBytes ?? PercentOf(availableBytes, LowMemoryPercent), availableBytes);

    /// <summary>The setting the high threshold comes from, for messages.</summary>
    public string HighSetting => HighMemoryBytes is null ? nameof(HighMemoryPercent) : nameof(HighMemoryBytes);

    /// <summary>The setting the low threshold comes from, for messages.</summary>
    public string LowSetting => LowMemoryBytes is null ? nameof(LowMemoryPercent) : nameof(LowMemoryBytes);

    private static long PercentOf(long bytes, double percent) => (long)(bytes * (percent / 100));
}

/// <summary>The overload thresholds in bytes, and the memory the process may use that percentages are taken of.</summary>
public readonly record struct MemoryThresholds(long HighBytes, long LowBytes, long AvailableBytes);
