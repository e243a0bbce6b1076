namespace Gateway.Tests.Infrastructure;

/// <summary>Bounded waits for what the gateway does asynchronously.</summary>
internal static class Eventually
{
    public static Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        TrueAsync(() => Task.FromResult(condition()), what, timeout);

    /// <summary>Waits for a condition that is itself asked over the network, such as a counter of the admin API.</summary>
    public static async Task TrueAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("Still not true: " + what);
            await Task.Delay(10);
        }
    }
}
