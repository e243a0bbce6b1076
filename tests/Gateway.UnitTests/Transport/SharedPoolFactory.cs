using System.Buffers;
using Microsoft.AspNetCore.Connections;

namespace Gateway.UnitTests.Transport;

/// <summary>The memory pool a transport under test takes its buffers from: the shared one, as nothing here measures pooling.</summary>
internal sealed class SharedPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => MemoryPool<byte>.Shared;
}
