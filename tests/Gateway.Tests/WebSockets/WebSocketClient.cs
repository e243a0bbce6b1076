using System.Net.WebSockets;
using System.Text;
using Gateway.Tests.Infrastructure;

namespace Gateway.Tests.WebSockets;

/// <summary>.NET's ClientWebSocket against a test gateway's /ws.</summary>
internal static class WebSocketClient
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    public static Uri WsUri(TestGateway gateway, string query = "") => new($"ws://127.0.0.1:{gateway.HttpAddress.Port}/ws{query}");

    public static async Task<ClientWebSocket> ConnectAsync(TestGateway gateway, string query = "", string? subprotocol = null)
    {
        var socket = new ClientWebSocket();
        if (subprotocol is not null) socket.Options.AddSubProtocol(subprotocol);
        await socket.ConnectAsync(WsUri(gateway, query), CancellationToken.None).WaitAsync(s_timeout);
        return socket;
    }

    /// <summary>The next message: text as it is, binary as hex.</summary>
    public static async Task<(WebSocketMessageType Type, string Text)> ReceiveAsync(ClientWebSocket socket)
    {
        var buffer = new byte[64 * 1024];
        using var cts = new CancellationTokenSource(s_timeout);
        var result = await socket.ReceiveAsync(buffer, cts.Token);
        return (result.MessageType, result.MessageType == WebSocketMessageType.Binary
            ? Convert.ToHexString(buffer, 0, result.Count)
            : Encoding.UTF8.GetString(buffer, 0, result.Count));
    }

    public static Task SendTextAsync(ClientWebSocket socket, string text) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, CancellationToken.None);
}
