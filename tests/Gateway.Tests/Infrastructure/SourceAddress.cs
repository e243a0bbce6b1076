using System.Net;
using System.Net.Sockets;

namespace Gateway.Tests.Infrastructure;

/// <summary>TCP connections from a chosen loopback address (127.0.0.2 is another client than 127.0.0.1 to a per-address limit).</summary>
internal static class SourceAddress
{
    public static async Task<Socket> ConnectFromAsync(IPAddress source, IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(source, 0));
        await socket.ConnectAsync(endPoint);
        return socket;
    }
}
