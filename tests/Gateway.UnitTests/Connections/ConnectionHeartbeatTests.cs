using Gateway.Connections;

namespace Gateway.UnitTests.Connections;

/// <summary>The heartbeat ends quietly however its host lets it go.</summary>
public sealed class ConnectionHeartbeatTests
{
    [Fact]
    public async Task A_heartbeat_disposed_without_being_stopped_ends_without_a_fault()
    {
        // A host whose start fails on a bad setting disposes its services without stopping them; a heartbeat that then
        // ended cancelled would be logged as a faulted service, an error on top of the one naming the setting.
        var time = new TimerCreationSignal();
        var heartbeat = new ConnectionHeartbeat(new ConnectionRegistry(), time);
        await heartbeat.StartAsync(CancellationToken.None);
        await time.TimerCreated.WaitAsync(TimeSpan.FromSeconds(10));

        heartbeat.Dispose();
        await heartbeat.ExecuteTask!.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(heartbeat.ExecuteTask.IsCompletedSuccessfully);
    }

    /// <summary>The system clock, saying when the heartbeat's timer exists: from then on the heartbeat is running.</summary>
    private sealed class TimerCreationSignal : TimeProvider
    {
        private readonly TaskCompletionSource _created = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task TimerCreated => _created.Task;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            var timer = System.CreateTimer(callback, state, dueTime, period);
            _created.TrySetResult();
            return timer;
        }
    }
}
