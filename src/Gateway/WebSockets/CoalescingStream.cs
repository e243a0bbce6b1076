using System.Buffers;
using System.Runtime.CompilerServices;
using Gateway.Transport;
using Microsoft.AspNetCore.Http.Features;

namespace Gateway.WebSockets;

/// <summary>
/// The upgraded connection's stream, under the WebSocket. Between <see cref="Hold"/> and
/// <see cref="ReleaseAsync"/> the frames the WebSocket writes are gathered and then go to the connection
/// in one write; otherwise writes pass straight through.
/// </summary>
/// <remarks>
/// Kestrel flushes every write of an upgraded stream, and a flush is a <c>send</c>: without this, a
/// subscriber with ten messages waiting costs ten system calls. The send loop holds while it drains a
/// batch of its outbox. Writes are serialised by a gate because the WebSocket writes on its own too
/// (pongs, keep-alive pings, the close frame), and one of those may meet a release.
/// <para>On a plaintext connection of the epoll transport every write is first offered to the socket directly
/// (<see cref="IDirectSendFeature"/>): one <c>send</c> on this thread instead of Kestrel's output layers, its pipe and
/// send loop. What the socket does not take goes through Kestrel as before, and the transport keeps the order.</para>
/// <para>On the read path a <see cref="ClientFrameGuard"/> follows the client's frames (<see cref="GuardReads"/>): a frame
/// over the size limit or against RFC 6455 is refused on its header, before any of its payload is read, and the
/// connection ends with a lingering close (<see cref="DiscardInputAsync"/>).</para>
/// </remarks>
/// <param name="direct">The connection's direct send; null where bytes must go through Kestrel (TLS, other transports).</param>
/// <param name="lingerTimeout">How long <see cref="DiscardInputAsync"/> reads at most; 0 for not at all.</param>
internal sealed class CoalescingStream(Stream inner, IDirectSendFeature? direct, TimeSpan lingerTimeout) : Stream
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly PooledBufferWriter _held = new(4096); // rented while writes are gathered, returned once they are out
    private bool _holding;
    private ClientFrameGuard? _guard;
    private Func<FrameViolation, Task>? _refuse;
    private int _refused;
    private bool _closeFrameOwed; // to the WebSocket, in the client's place, once a refusal's lingering close is over

    // What the WebSocket reads in place of the client's close frame after a refusal: final, close, no payload, masked (with
    // a key of zeros) as a client's frame is; the WebSocket reads a client's header and key in one.
    private static readonly byte[] s_closeFrame = [0x88, 0x80, 0, 0, 0, 0];

    /// <summary>True when writes are offered to the socket directly before going through Kestrel.</summary>
    public bool SendsDirectly => direct is not null;

    /// <summary>Bytes gathered since <see cref="Hold"/>.</summary>
    public int HeldBytes => _held.WrittenCount;

    /// <summary>Gathers the writes that follow until <see cref="ReleaseAsync"/>.</summary>
    public void Hold() => Volatile.Write(ref _holding, true);

    /// <summary>Writes what was gathered, in one write, and lets writes pass through again.</summary>
    public async ValueTask ReleaseAsync()
    {
        await _gate.WaitAsync().ConfigureAwait(false);
        try
        {
            Volatile.Write(ref _holding, false);
            if (_held.WrittenCount == 0) return;
            try
            {
                await WriteThroughAsync(_held.WrittenMemory, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                _held.Release();
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await WriteEntered(buffer, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>Takes the gate if no write holds it, for the writes below on this thread.</summary>
    public bool TryBeginWrite() => _gate.Wait(0);

    /// <summary>Waits for the gate, for <see cref="WriteEntered"/>; <see cref="Exit"/> releases it.</summary>
    public Task EnterAsync() => _gate.WaitAsync();

    /// <summary>
    /// Writes <paramref name="bytes"/>, gathered while held, else through; the caller holds the gate (<see cref="WriteAsync(ReadOnlyMemory{byte}, CancellationToken)"/>,
    /// or one that took it with <see cref="EnterAsync"/> to decide under it whether to write).
    /// </summary>
    public ValueTask WriteEntered(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken = default)
    {
        // Read under the gate: a write that saw "not holding" may still be passing through when Hold
        // is called, which is fine, as the gate keeps it whole and ahead of what is gathered.
        if (!Volatile.Read(ref _holding)) return WriteThroughAsync(bytes, cancellationToken);
        _held.Write(bytes.Span);
        return ValueTask.CompletedTask;
    }

    /// <summary>Releases the gate taken by <see cref="EnterAsync"/>.</summary>
    public void Exit() => _gate.Release();

    /// <summary>Adds to what <see cref="WriteGathered"/> writes; the caller holds the gate.</summary>
    public void Gather(ReadOnlySpan<byte> bytes) => _held.Write(bytes);

    /// <summary>Writes what was gathered, in one write; the caller holds the gate until it completes, then calls <see cref="EndWrite"/>.</summary>
    public ValueTask WriteGathered() => WriteUnderGate(_held.WrittenMemory);

    /// <summary>Writes <paramref name="bytes"/>: directly what the socket takes, the rest through Kestrel; the caller holds the gate until it completes.</summary>
    public ValueTask WriteUnderGate(ReadOnlyMemory<byte> bytes) => WriteThroughAsync(bytes, CancellationToken.None);

    /// <summary>
    /// Hands all of <paramref name="frame"/> (a pinned array) to the transport as a direct send (<see cref="IDirectSendFeature"/>);
    /// the caller holds the gate until <paramref name="completion"/> is told how many bytes went, and writes the rest with
    /// <see cref="WriteRemainder"/>. False, with nothing sent, when the bytes cannot go directly now.
    /// </summary>
    public bool TrySendDirectly(byte[] frame, IDirectSendCompletion completion) => direct?.TrySend(frame, frame.Length, completion) ?? false;

    /// <summary>Writes through Kestrel what a direct send did not take; the caller holds the gate until it completes.</summary>
    public ValueTask WriteRemainder(byte[] frame, int sent) => inner.WriteAsync(frame.AsMemory(sent), CancellationToken.None);

    /// <summary>Forgets what was gathered and releases the gate.</summary>
    public void EndWrite()
    {
        _held.Release();
        _gate.Release();
    }

    /// <summary>Writes to the connection, under the gate: what the socket takes directly, the rest through Kestrel.</summary>
    private ValueTask WriteThroughAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken)
    {
        var sent = direct?.TrySend(buffer.Span) ?? 0;
        return sent == buffer.Length ? ValueTask.CompletedTask : inner.WriteAsync(buffer[sent..], cancellationToken);
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer, offset, count).GetAwaiter().GetResult();

    /// <summary>
    /// Has <paramref name="guard"/> follow the client's frames on the read path, from the next read on: the bytes of a
    /// frame it refuses never reach the WebSocket. Then <paramref name="refuse"/> is called, once, to send what is owed
    /// and the close frame; what the client still sends is discarded (<see cref="DiscardInputAsync"/>), and the
    /// WebSocket reads the end of the stream.
    /// </summary>
    /// <param name="refuse">Completes once the close frame is written.</param>
    public void GuardReads(ClientFrameGuard guard, Func<FrameViolation, Task> refuse)
    {
        _guard = guard;
        _refuse = refuse;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (_guard is null) return inner.ReadAsync(buffer, cancellationToken);
        if (_guard.Violation is not null) return RefuseAsync(buffer);
        var reading = inner.ReadAsync(buffer, cancellationToken);
        return reading.IsCompletedSuccessfully ? Inspect(buffer, reading.Result) : InspectWhenReadAsync(reading, buffer);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<int> InspectWhenReadAsync(ValueTask<int> reading, Memory<byte> buffer)
    {
        var read = await reading.ConfigureAwait(false);
        return await Inspect(buffer, read).ConfigureAwait(false);
    }

    /// <summary>What of the <paramref name="read"/> bytes may reach the WebSocket: all but a refused frame and what follows it.</summary>
    private ValueTask<int> Inspect(Memory<byte> buffer, int read)
    {
        var allowed = _guard!.Inspect(buffer.Span[..read]);
        // The frames before the refused one go to the WebSocket first, so that their messages are handled and answered.
        return allowed > 0 || _guard.Violation is null ? new ValueTask<int>(allowed) : RefuseAsync(buffer);
    }

    /// <summary>
    /// Has the connection send what it owes and the close frame, and discards what the client still sends. Then the
    /// WebSocket reads a close frame in the client's place, as if it had answered ours: it is closed, not aborted, and the
    /// connection ends with a FIN (ASP.NET Core aborts the connection of an aborted WebSocket, with a reset). Where the
    /// WebSocket is in the middle of a header, it reads the end of the stream instead.
    /// </summary>
    private async ValueTask<int> RefuseAsync(Memory<byte> buffer)
    {
        if (Interlocked.Exchange(ref _refused, 1) == 0)
        {
            await _refuse!(_guard!.Violation!).ConfigureAwait(false);
            await DiscardInputAsync().ConfigureAwait(false);
            _closeFrameOwed = !_guard.StoppedMidHeader;
        }

        // Not into a zero-byte read, with which the WebSocket waits for data before it reads a header: into the next.
        if (!_closeFrameOwed || buffer.Length < s_closeFrame.Length) return 0;
        _closeFrameOwed = false;
        s_closeFrame.CopyTo(buffer);
        return s_closeFrame.Length;
    }

    /// <summary>
    /// Reads and drops what the client still sends, after our close frame, until the client ends its side, sends its close
    /// frame, or <c>Gateway:Http:WebSocket:LingerTimeout</c> passes (nginx's lingering close): time for it to read our close
    /// frame and stop sending, bounded so that a client that never stops costs nothing more. Closing a connection with unread input sends
    /// a reset, and a reset makes the client's kernel discard what we sent and it has not read yet: our last messages and
    /// the close frame. A 4 KiB buffer, whatever the client sends.
    /// </summary>
    public async Task DiscardInputAsync()
    {
        _guard?.StopChecking();
        if (lingerTimeout <= TimeSpan.Zero) return;
        var scratch = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            using var linger = new CancellationTokenSource(lingerTimeout);
            int read;
            while ((read = await inner.ReadAsync(scratch, linger.Token).ConfigureAwait(false)) > 0)
            {
                _guard?.Inspect(scratch.AsSpan(0, read));
                if (_guard is { PeerClosed: true }) return;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            // The time is up, or the connection is gone: either way nothing is left to wait for.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(scratch);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count).GetAwaiter().GetResult();

    public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);

    public override void Flush() => inner.Flush();

    public override bool CanRead => inner.CanRead;

    public override bool CanWrite => inner.CanWrite;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }

    public override ValueTask DisposeAsync() => inner.DisposeAsync();
}

/// <summary>
/// Puts a <see cref="CoalescingStream"/> under the WebSocket that ASP.NET Core's WebSocket middleware
/// accepts: set on a request before that middleware runs, it hands the middleware the wrapped stream, so
/// the handshake, its checks and the WebSocket itself stay the framework's.
/// </summary>
/// <param name="direct">The connection's direct send, for a plaintext connection of the epoll transport.</param>
/// <param name="lingerTimeout">The stream's lingering after a refusal, <c>Gateway:Http:WebSocket:LingerTimeout</c>.</param>
internal sealed class CoalescingUpgradeFeature(IHttpUpgradeFeature inner, IDirectSendFeature? direct, TimeSpan lingerTimeout) : IHttpUpgradeFeature
{
    public bool IsUpgradableRequest => inner.IsUpgradableRequest;

    /// <summary>The stream under the WebSocket, once upgraded.</summary>
    public CoalescingStream? Stream { get; private set; }

    public async Task<Stream> UpgradeAsync()
    {
        // Before the handshake's answer is written: its flush then leaves the send loop marked idle once it is sent.
        direct?.EnableDirectSends();
        Stream = new CoalescingStream(await inner.UpgradeAsync().ConfigureAwait(false), direct, lingerTimeout);
        return Stream;
    }
}
