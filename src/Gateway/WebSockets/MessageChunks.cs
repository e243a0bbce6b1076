using System.Buffers;

namespace Gateway.WebSockets;

/// <summary>
/// The message a WebSocket is receiving, in chunks rented from the shared pool: 4 KiB, then 16 KiB each. A large message
/// costs what it holds and one chunk more, and nothing else: a buffer that doubled as it grew would copy the message at
/// each step and leave the smaller arrays behind, which the process holds until the next full collection (a client that
/// leaves a message hanging just below the limit then costs twice the limit). Every chunk goes back to the pool on
/// <see cref="Release"/>, so an idle socket holds none.
/// </summary>
internal sealed class MessageChunks
{
    private const int FirstChunkBytes = 4096;
    private const int ChunkBytes = 16 * 1024;

    private readonly List<byte[]> _chunks = [];
    private int _lastWritten; // in the last chunk
    private byte[]? _whole; // rented for a message of several chunks, until the next Reset or Release

    public int WrittenCount { get; private set; }

    /// <summary>Room for the next bytes of the message: the rest of the last chunk, or a new chunk; at most <paramref name="most"/> bytes.</summary>
    public Memory<byte> GetMemory(int most)
    {
        if (_chunks.Count == 0 || _lastWritten == _chunks[^1].Length)
        {
            _chunks.Add(ArrayPool<byte>.Shared.Rent(_chunks.Count == 0 ? FirstChunkBytes : ChunkBytes));
            _lastWritten = 0;
        }

        var room = _chunks[^1].AsMemory(_lastWritten);
        return room.Length <= most ? room : room[..most];
    }

    public void Advance(int count)
    {
        _lastWritten += count;
        WrittenCount += count;
    }

    /// <summary>
    /// The message, whole: its one chunk, or its chunks copied into one buffer. Valid until <see cref="Reset"/> or
    /// <see cref="Release"/>.
    /// </summary>
    public ReadOnlyMemory<byte> Whole()
    {
        if (_chunks.Count <= 1) return _chunks.Count == 0 ? ReadOnlyMemory<byte>.Empty : _chunks[0].AsMemory(0, _lastWritten);
        _whole = ArrayPool<byte>.Shared.Rent(WrittenCount);
        var at = 0;
        for (var i = 0; i < _chunks.Count; i++)
        {
            var length = i == _chunks.Count - 1 ? _lastWritten : _chunks[i].Length;
            _chunks[i].AsSpan(0, length).CopyTo(_whole.AsSpan(at));
            at += length;
        }

        return _whole.AsMemory(0, WrittenCount);
    }

    /// <summary>
    /// The message was refused and will never be whole: every chunk but the last goes back to the pool now, rather than
    /// when the connection has finished its lingering close. The last stays, as the receive under way may still write into
    /// it; <see cref="Release"/> returns it.
    /// </summary>
    public void Abandon()
    {
        if (_chunks.Count <= 1) return;
        var last = _chunks[^1];
        _chunks.RemoveAt(_chunks.Count - 1);
        ReturnFrom(0);
        _chunks.Add(last);
        WrittenCount = _lastWritten;
    }

    /// <summary>Forgets the message and keeps its first chunk, for the next message soon.</summary>
    public void Reset()
    {
        ReturnFrom(1);
        _lastWritten = 0;
        WrittenCount = 0;
    }

    /// <summary>Forgets the message and returns every chunk to the pool.</summary>
    public void Release()
    {
        ReturnFrom(0);
        _lastWritten = 0;
        WrittenCount = 0;
    }

    private void ReturnFrom(int first)
    {
        for (var i = _chunks.Count - 1; i >= first; i--)
        {
            ArrayPool<byte>.Shared.Return(_chunks[i]);
            _chunks.RemoveAt(i);
        }

        if (_whole is null) return;
        ArrayPool<byte>.Shared.Return(_whole);
        _whole = null;
    }
}
