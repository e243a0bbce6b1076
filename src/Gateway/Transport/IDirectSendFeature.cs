namespace Gateway.Transport;

/// <summary>
/// The transport's one feature for sending: a connection of the epoll transport whose bytes can go to the socket on the
/// writer's thread, past its output pipe. For a writer that sends one small message to each of many connections (a
/// WebSocket fan-out), where the pipe's flush, its send loop and Kestrel's output layers cost more than the system call.
/// </summary>
/// <remarks>
/// Order is kept with what goes through the pipe: nothing is sent directly while the pipe holds bytes not yet sent, or
/// while another direct send on the connection is under way. The send loop keeps track of that only once
/// <see cref="EnableDirectSends"/> has been called. Whatever a direct send did not take, the caller writes through the
/// pipe, which then carries everything until it has drained.
/// </remarks>
internal interface IDirectSendFeature
{
    /// <summary>Makes the send loop keep track of an empty pipe from its next wait on; until then nothing is sent directly.</summary>
    void EnableDirectSends();

    /// <summary>
    /// Sends what the socket takes of <paramref name="data"/> now and returns how many bytes that was: 0 when direct
    /// sends are not enabled yet, the pipe still holds unsent bytes, the socket's buffer is full, the connection is
    /// closing, or a send failed.
    /// </summary>
    int TrySend(ReadOnlySpan<byte> data);

    /// <summary>
    /// Sends the first <paramref name="length"/> bytes of <paramref name="pinned"/> with the other sends of this moment: on
    /// one of the transport's own threads, while it handles ready sockets (or a batch of datagrams), the send is queued and
    /// given to the kernel with the others of that handling in one system call when it ends (an epoll loop's handling of
    /// one socket, or of its whole pass under load); on any other thread it is sent now. True when it was taken:
    /// <paramref name="completion"/> then hears, exactly once and on the sending thread (before this returns, or when the
    /// handling ends), how many bytes the socket took, and until then nothing else is sent on the connection. False, with
    /// nothing sent and the completion never called, under the conditions <see cref="TrySend"/> returns 0 for, or while
    /// another thread sends directly on the connection. The array must not move: allocate it pinned.
    /// </summary>
    bool TrySend(byte[] pinned, int length, IDirectSendCompletion completion);
}

/// <summary>Told how many bytes of a <see cref="IDirectSendFeature.TrySend(byte[], int, IDirectSendCompletion)"/> the socket took.</summary>
internal interface IDirectSendCompletion
{
    /// <param name="sent">Bytes the socket took, from 0 (its buffer was full, or the send failed) to all of them.</param>
    void OnSent(int sent);
}
