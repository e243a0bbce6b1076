using Gateway.Connections;

namespace Gateway.UnitTests.Connections;

/// <summary>
/// The buckets refill in proportion to the time since the last refill (System.Threading.RateLimiting's manual
/// replenishment), so these tests let a real second or so pass before a refill, as the connection heartbeat does.
/// </summary>
public sealed class PeerRateLimitTests
{
    private static readonly TimeSpan s_moreThanASecond = TimeSpan.FromMilliseconds(1100);

    [Fact]
    public async Task A_peer_gets_its_burst_then_its_rate_after_a_second_and_never_more_than_the_burst()
    {
        var limit = new PeerRateLimit(new RateLimitOptions { MessagesPerSecond = 10, MessageBurst = 25 }, RateLimitBreach.Drop);

        Assert.Equal(25, Admitted(limit, 100, length: 1));
        Assert.Equal(0, Admitted(limit, 100, length: 1));
        await Task.Delay(s_moreThanASecond);
        limit.Refill();
        Assert.InRange(Admitted(limit, 100, length: 1), 10, 25);
    }

    [Fact]
    public async Task Bytes_are_limited_apart_from_messages_and_a_message_larger_than_the_burst_passes_on_a_full_bucket()
    {
        var limit = new PeerRateLimit(new RateLimitOptions { BytesPerSecond = 1000 }, RateLimitBreach.Drop);

        Assert.Equal(10, Admitted(limit, 100, length: 100));
        await Task.Delay(s_moreThanASecond);
        limit.Refill();
        Assert.True(limit.TryAcquire(5000));
        Assert.False(limit.TryAcquire(1));
    }

    [Fact]
    public async Task A_paused_peer_waits_for_the_next_refill()
    {
        var limit = new PeerRateLimit(new RateLimitOptions { MessagesPerSecond = 1 }, RateLimitBreach.Pause);
        Assert.True(limit.TryAcquire(1));
        Assert.False(limit.TryAcquire(1));

        var waiting = limit.WaitForRefillAsync();
        Assert.False(waiting.IsCompleted);
        await Task.Delay(s_moreThanASecond);
        limit.Refill();

        await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(limit.TryAcquire(1));
    }

    [Theory]
    [InlineData(0, null, "e:Limits:MessagesPerSecond must be positive")]
    [InlineData(10, 5, "e:Limits:MessageBurst must be at least MessagesPerSecond (10)")]
    [InlineData(null, 5, "e:Limits:MessageBurst needs e:Limits:MessagesPerSecond")]
    public void Settings_that_make_no_sense_are_named(int? rate, int? burst, string problem)
    {
        var problems = new RateLimitOptions { MessagesPerSecond = rate, MessageBurst = burst }.Validate("e:Limits", canPause: true);

        Assert.Contains(problems, text => text.StartsWith(problem, StringComparison.Ordinal));
    }

    [Fact]
    public void A_datagram_endpoint_cannot_pause()
    {
        var problems = new RateLimitOptions { MessagesPerSecond = 5, OnBreach = RateLimitBreach.Pause }.Validate("u:Limits", canPause: false);

        Assert.Equal("u:Limits:OnBreach cannot be Pause here: a datagram peer cannot be paused; use Drop or Disconnect.", Assert.Single(problems));
    }

    private static int Admitted(PeerRateLimit limit, int attempts, int length)
    {
        var admitted = 0;
        for (var i = 0; i < attempts; i++)
        {
            if (limit.TryAcquire(length)) admitted++;
        }

        return admitted;
    }
}
