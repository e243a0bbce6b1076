namespace Gateway.Udp;

/// <summary>
/// Traffic and drop counts of one UDP endpoint, for its close line and for metrics. "In" counts every datagram
/// read from the socket; the dropped ones are also counted by reason, so accepted = in - dropped on the way in.
/// </summary>
/// <remarks>
/// The receive side is written by the endpoint's one receive loop, so plain increments suffice there; the send
/// side is written by every peer's delivery loop, so it uses interlocked ones.
/// </remarks>
internal sealed class UdpEndpointCounters
{
    private long _datagramsIn;
    private long _bytesIn;
    private long _datagramsOut;
    private long _bytesOut;
    private long _droppedOversize;
    private long _droppedTruncated;
    private long _droppedRateLimited;
    private long _droppedUnroutable;
    private long _droppedUnsendable;

    public long DatagramsIn => Volatile.Read(ref _datagramsIn);

    public long BytesIn => Volatile.Read(ref _bytesIn);

    public long DatagramsOut => Volatile.Read(ref _datagramsOut);

    public long BytesOut => Volatile.Read(ref _bytesOut);

    /// <summary>Inbound datagrams longer than MaxDatagramSize (read as one byte more than the limit).</summary>
    public long DroppedOversize => Volatile.Read(ref _droppedOversize);

    /// <summary>Inbound datagrams the operating system reported as cut to the receive buffer (Windows reports this as an error).</summary>
    public long DroppedTruncated => Volatile.Read(ref _droppedTruncated);

    /// <summary>Inbound datagrams over their source's rate limit.</summary>
    public long DroppedRateLimited => Volatile.Read(ref _droppedRateLimited);

    /// <summary>Inbound datagrams whose source could not be given topics (a rendered topic too long, for example).</summary>
    public long DroppedUnroutable => Volatile.Read(ref _droppedUnroutable);

    /// <summary>Outbound messages larger than MaxDatagramSize, or whose send failed, or left unsent at shutdown.</summary>
    public long DroppedUnsendable => Volatile.Read(ref _droppedUnsendable);

    internal void OnReceived(int bytes)
    {
        _datagramsIn++;
        _bytesIn += bytes;
    }

    internal long OnOversize() => ++_droppedOversize;

    internal long OnTruncated() => ++_droppedTruncated;

    internal long OnRateLimited() => ++_droppedRateLimited;

    internal long OnUnroutable() => ++_droppedUnroutable;

    internal void OnSent(int bytes)
    {
        Interlocked.Increment(ref _datagramsOut);
        Interlocked.Add(ref _bytesOut, bytes);
    }

    internal long OnUnsendable() => Interlocked.Increment(ref _droppedUnsendable);
}
