using System.Net;
using System.Threading.RateLimiting;

namespace Gateway.Connections;

/// <summary>
/// Who may connect to one endpoint beyond its MaxConnections: its rate of new connections (a token bucket, so a burst
/// passes and a storm does not) and the connections each source address may hold. A connection that is admitted is
/// released when it ends, so its address's count falls again.
/// </summary>
internal sealed class ConnectionAdmission : IDisposable
{
    private readonly TokenBucketRateLimiter? _accepts;
    private readonly int? _maxPerAddress;
    private readonly Dictionary<IPAddress, int> _perAddress = [];
    private readonly Lock _lock = new();

    public ConnectionAdmission(RateLimitOptions options)
    {
        _maxPerAddress = options.MaxConnectionsPerAddress;
        if (options.ConnectionsPerSecond is { } perSecond)
        {
            // Replenished by its own timer: accepts are the one limit that is no connection's, so no heartbeat visits it.
            _accepts = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
            {
                TokenLimit = options.ConnectionBurst ?? perSecond,
                TokensPerPeriod = perSecond,
                ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                AutoReplenishment = true,
                QueueLimit = 0,
            });
        }
    }

    /// <summary>Whether any limit is set: without one, <see cref="TryAdmit"/> always admits and need not be asked.</summary>
    public bool Limits => _accepts is not null || _maxPerAddress is not null;

    /// <summary>Admits a connection from <paramref name="address"/> (null for a Unix socket peer, which has none), or names the limit it breaks.</summary>
    /// <returns>Null when admitted (the caller then calls <see cref="Release"/> when it ends); else the <see cref="RejectionReasons"/> reason.</returns>
    public string? TryAdmit(IPAddress? address)
    {
        if (_maxPerAddress is { } max && address is not null)
        {
            address = Unmapped(address);
            lock (_lock)
            {
                var open = _perAddress.GetValueOrDefault(address);
                if (open >= max) return RejectionReasons.MaxConnectionsPerAddress;
                if (!TryTakeAccept()) return RejectionReasons.AcceptRate;
                _perAddress[address] = open + 1;
                return null;
            }
        }

        return TryTakeAccept() ? null : RejectionReasons.AcceptRate;
    }

    /// <summary>An admitted connection from <paramref name="address"/> has ended.</summary>
    public void Release(IPAddress? address)
    {
        if (_maxPerAddress is null || address is null) return;
        address = Unmapped(address);
        lock (_lock)
        {
            var open = _perAddress.GetValueOrDefault(address) - 1;
            if (open > 0) _perAddress[address] = open;
            else _perAddress.Remove(address);
        }
    }

    /// <summary>An IPv4 peer on a dual-mode socket is counted as the IPv4 address it is, whichever way its socket saw it.</summary>
    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    private bool TryTakeAccept()
    {
        if (_accepts is null) return true;
        using var lease = _accepts.AttemptAcquire();
        return lease.IsAcquired;
    }

    /// <summary>Stops the accept bucket's timer.</summary>
    public void Dispose() => _accepts?.Dispose();
}
