namespace Gateway.Transport;

/// <summary>Connection ids in Kestrel's form: 13 base-32 characters of a counter that starts at the current time.</summary>
internal static class ConnectionIds
{
    private const string Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV";
    private static long s_last = DateTime.UtcNow.Ticks;

    public static string Next() => string.Create(13, Interlocked.Increment(ref s_last), static (chars, id) =>
    {
        for (var i = chars.Length - 1; i >= 0; i--)
        {
            chars[i] = Alphabet[(int)(id & 31)];
            id >>= 5;
        }
    });
}
