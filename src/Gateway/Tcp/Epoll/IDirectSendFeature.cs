namespace Gateway.Tcp.Epoll;

/// <summary>
/// A connection of the epoll transport whose bytes can be sent on the caller's thread, past its output pipe:
/// one <c>send</c> and nothing around it, for a writer that sends one small message to each of many connections
/// (a WebSocket fan-out), where the pipe's flush, its send loop and Kestrel's output layers cost more than the
/// system call itself.
/// </summary>
/// <remarks>
/// Order is kept with what goes through the pipe: nothing is sent directly while the pipe holds bytes not yet
/// sent. The send loop keeps track of that only once <see cref="EnableDirectSends"/> has been called.
/// </remarks>
internal interface IDirectSendFeature
{
    /// <summary>Makes the send loop keep track of an empty pipe from its next wait on; until then <see cref="TrySend"/> sends nothing.</summary>
    void EnableDirectSends();

    /// <summary>
    /// Sends what the socket takes of <paramref name="data"/> now and returns how many bytes that was: 0 when direct
    /// sends are not enabled yet, the pipe still holds unsent bytes, the socket's buffer is full, the connection is
    /// closing, or a send failed.
    /// The caller writes the rest through the output pipe, which then carries everything until it has drained.
    /// </summary>
    int TrySend(ReadOnlySpan<byte> data);

    /// <summary>
    /// Queues a send of all of <paramref name="pinned"/> on <paramref name="ring"/>, under the conditions of
    /// <see cref="TrySend"/>; false when they do not hold or another thread is sending directly on this connection
    /// (nothing queued). Until <paramref name="completion"/> is told the bytes the socket took (0 when it took none or
    /// the send failed), on the ring's thread, nothing else is sent on the connection. The array must not move: allocate it
    /// pinned.
    /// </summary>
    bool TryQueueSend(SendRing ring, byte[] pinned, IQueuedSendCompletion completion);
}
