namespace Gateway.Transport;

/// <summary>Settings of the runtime's socket engine that can only be given through the environment.</summary>
internal static class SocketEngine
{
    private const string InlineCompletionsVariable = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// The runtime reads this variable once, when the first socket is created; the host creates none
    /// before its listeners bind, so setting it while the host is built still takes effect.
    /// A value already in the environment wins.
    /// </summary>
    public static void UseInlineCompletions(bool enabled)
    {
        if (Environment.GetEnvironmentVariable(InlineCompletionsVariable) is null)
            Environment.SetEnvironmentVariable(InlineCompletionsVariable, enabled ? "1" : "0");
    }
}
