namespace Gateway.Transport;

/// <summary>
/// The transport's feature for a lingering close: a connection that can shut down its sending side alone, after what
/// its output pipe holds has been sent, while its input keeps reading. Kestrel's socket transport cannot (completing its
/// output shuts the socket down in both directions and closes it), so only the epoll transport's connections offer it.
/// </summary>
/// <remarks>
/// After <see cref="CloseOutputAsync"/> the peer has seen everything and then FIN, and the input pipe still delivers
/// what the peer sends, until its own FIN. The handler reads and discards that for as long as it chooses; when it
/// returns, the socket is closed as usual.
/// </remarks>
internal interface IHalfCloseFeature
{
    /// <summary>
    /// Completes the transport's output: sends what it holds, then FIN. Completes once that has been done, or once the
    /// send side has ended for another reason (an abort, a failed send).
    /// </summary>
    Task CloseOutputAsync();
}
