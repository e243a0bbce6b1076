namespace Gateway.Tests.Infrastructure;

/// <summary>Bounded waits for what the gateway does asynchronously.</summary>
internal static class Eventually
{
    public static async Task TrueAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("Still not true: " + what);
            await Task.Delay(10);
        }
    }
}
