using System.Net.Sockets;

namespace Gateway.Tests.Infrastructure;

/// <summary>
/// The memory tests' one measurement: how much a gateway process's resident memory (<c>VmRSS</c>) grows when
/// <see cref="Peers"/> abusive peers, connected and idle, each commit an abuse and hold what it made the gateway keep.
/// What the process costs once is kept out of it:
/// <list type="bullet">
/// <item>A warm-up first: the abuse committed by a few peers, three times a second apart. The pools are filled by the
/// first round; the pauses let the JIT recompile, optimized and on a thread of its own, the methods each round made
/// hot (it counts calls only once no new method has been compiled for a moment, and compiles in native memory).</item>
/// <item>The baseline is read after a full collection (<see cref="GatewayProcess.SettledResidentBytesAsync"/>).</item>
/// </list>
/// </summary>
internal static class AbuseMemory
{
    public const int Peers = 100;

    /// <summary>What a peer may cost beyond the limit of what it sends (issue 19: the limit and 64 KB).</summary>
    public const long Allowance = 64 * 1024;

    private const int WarmUpPeers = 5;
    private const int WarmUpRounds = 3;

    /// <summary>Measures the growth; returns it with the peers, still open, for the caller to close.</summary>
    /// <param name="open">Opens that many peers, ready to commit the abuse.</param>
    /// <param name="abuse">Has the peers commit the abuse; returns once the gateway has read all they sent.</param>
    /// <param name="close">Closes peers, and returns once the gateway has let go of them.</param>
    /// <param name="meanwhile">What a bystander checks after the abuse, before the growth is read.</param>
    public static async Task<(long Growth, List<TPeer> Peers)> GrowthAsync<TPeer>(GatewayProcess gateway, Func<int, Task<List<TPeer>>> open,
        Func<List<TPeer>, Task> abuse, Func<List<TPeer>, Task> close, Func<Task> meanwhile)
    {
        for (var round = 0; round < WarmUpRounds; round++)
        {
            var few = await open(WarmUpPeers);
            await abuse(few);
            await close(few);
            await Task.Delay(TimeSpan.FromSeconds(1));
        }

        var peers = await open(Peers);
        var baseline = await gateway.SettledResidentBytesAsync();
        await abuse(peers);
        await meanwhile();
        return (ProcessMemory.ResidentBytes(gateway.ProcessId) - baseline, peers);
    }

    /// <summary>
    /// Has each of <paramref name="clients"/>, connected to the gateway's <paramref name="port"/>, commit the abuse, one
    /// after the other; returns once the gateway has read all they sent. One after the other, because what is measured
    /// is what the gateway holds for each, not how far 2 cores fall behind 100 senders at once (Kestrel buffers a
    /// connection's unread input, up to its MaxRequestBufferSize).
    /// </summary>
    public static async Task CommitEachAsync(List<TcpClient> clients, int port, Func<Stream, Task> commit)
    {
        foreach (var client in clients) await commit(client.GetStream());
        await Eventually.TrueAsync(() => ProcessMemory.UnreadBytesOnPort(port) == 0, "the gateway has read what the clients sent", TimeSpan.FromSeconds(30));
    }

    public static Task CloseAsync(List<TcpClient> clients)
    {
        foreach (var client in clients) client.Dispose();
        return Task.CompletedTask;
    }
}
