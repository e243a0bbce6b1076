using System.Text;
using Gateway.Tests.Http;
using Gateway.Tests.Infrastructure;
using NATS.Client.Core;
using NATS.Client.JetStream;
using static Gateway.Tests.Backplane.BackplaneTests;

namespace Gateway.Tests.Backplane;

/// <summary>With <c>Gateway:Backplane:History</c> on, event streams read a JetStream stream: one numbering, resumable on any instance.</summary>
public sealed class SharedHistoryTests : IAsyncLifetime
{
    private readonly DirectoryInfo _store = Directory.CreateTempSubdirectory("gateway-jetstream-");
    private NatsServer _nats = null!;
    private NatsConnection _observer = null!; // the test's own look at the server's streams and consumers
    private NatsJSContext _jetStream = null!;

    public async Task InitializeAsync()
    {
        _nats = await NatsServer.StartAsync("-js", "-sd", _store.FullName);
        _observer = new NatsConnection(new NatsOpts { Url = _nats.Url });
        _jetStream = new NatsJSContext(_observer);
    }

    public async Task DisposeAsync()
    {
        await _observer.DisposeAsync();
        await _nats.DisposeAsync();
        _store.Delete(recursive: true);
    }

    [Fact]
    public async Task A_client_that_reconnects_to_another_instance_with_its_last_event_id_resumes_where_it_left_off()
    {
        await using var a = await StartAsync(_nats, "Gateway:Backplane:History:Enabled=true");
        await using var b = await StartAsync(_nats, "Gateway:Backplane:History:Enabled=true");
        await WaitForStreamAsync();
        using var httpA = new HttpClient { BaseAddress = a.HttpAddress };
        using var httpB = new HttpClient { BaseAddress = b.HttpAddress };

        var first = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/news/+/events");
        await WaitForConsumersAsync(1); // the event stream's consumer starts with new messages only: publish once it exists
        for (var i = 1; i <= 3; i++) await httpB.PostAsync($"/api/topics/news/{i}", new StringContent($"story {i}"));
        var seen = new List<(string Id, string Text)>();
        for (var i = 0; i < 3; i++)
        {
            var (id, data) = await first.ReadEventAsync();
            seen.Add((id, data.GetProperty("text").GetString()!));
        }

        Assert.Equal(["story 1", "story 2", "story 3"], seen.Select(e => e.Text));
        var ids = seen.Select(e => long.Parse(e.Id)).ToList();
        Assert.True(ids[0] < ids[1] && ids[1] < ids[2], string.Join(", ", ids));
        await first.DisposeAsync(); // the client drops after "story 3"... but pretend it saw only up to "story 2"

        for (var i = 4; i <= 5; i++) await httpA.PostAsync($"/api/topics/news/{i}", new StringContent($"story {i}"));

        // Reconnecting to the other instance with the id of "story 2": it gets "story 3" under the same id, then what it missed.
        await using var resumed = await SseClient.OpenAsync(b.HttpAddress, "/api/topics/news/+/events", lastEventId: seen[1].Id);
        var third = await resumed.ReadEventAsync();
        Assert.Equal(seen[2].Id, third.Id);
        Assert.Equal("story 3", third.Data.GetProperty("text").GetString());
        Assert.Equal("story 4", (await resumed.ReadEventAsync()).Data.GetProperty("text").GetString());
        Assert.Equal("story 5", (await resumed.ReadEventAsync()).Data.GetProperty("text").GetString());
    }

    [Fact]
    public async Task The_stream_keeps_the_configured_number_of_messages_per_topic_and_a_filter_ending_in_hash_reads_its_parent_too()
    {
        await using var a = await StartAsync(_nats, "Gateway:Backplane:History:Enabled=true", "Gateway:Backplane:History:MaxMessagesPerTopic=2",
            "Gateway:Backplane:History:Stream=retention_test");
        await WaitForStreamAsync("retention_test");
        using var http = new HttpClient { BaseAddress = a.HttpAddress };
        for (var i = 1; i <= 4; i++) await http.PostAsync("/api/topics/plant", new StringContent($"plant {i}"));
        await http.PostAsync("/api/topics/plant/line1", new StringContent("line 1"));
        await http.PostAsync("/api/topics/other", new StringContent("not for this filter"));
        await Eventually.TrueAsync(() => Link(a).Counters.Sent >= 6, "all sent");

        // From the beginning: "plant/#" matches "plant" itself (MQTT's rule), whose last two messages are kept, and "plant/line1".
        await using var events = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/plant/%23/events", lastEventId: "0");
        var texts = new List<string>();
        for (var i = 0; i < 3; i++) texts.Add((await events.ReadEventAsync()).Data.GetProperty("text").GetString()!);
        Assert.Equal(["plant 3", "plant 4", "line 1"], texts);
    }

    [Fact]
    public async Task A_replay_larger_than_the_streams_queue_waits_for_the_client_instead_of_dropping()
    {
        await using var a = await StartAsync(_nats, "Gateway:Backplane:History:Enabled=true", "Gateway:Backplane:History:Stream=replay_test",
            "Gateway:Http:Sse:Outbox:Capacity=10");
        await WaitForStreamAsync("replay_test");
        using var http = new HttpClient { BaseAddress = a.HttpAddress };
        // 8 MB: more than the socket buffers between the gateway and a client that does not read yet.
        const int Count = 2000;
        var padding = new string('x', 4000);
        for (var i = 0; i < Count; i++) await http.PostAsync($"/api/topics/log/{i % 3}", new StringContent($"entry {i} {padding}"));
        await Eventually.TrueAsync(() => Link(a).Counters.Sent >= Count, "all sent");

        await using var events = await SseClient.OpenAsync(a.HttpAddress, "/api/topics/log/+/events", lastEventId: "0");
        await Task.Delay(1000); // the client reads nothing yet: the replay meets a full queue
        for (var i = 0; i < Count; i++)
            Assert.Equal($"entry {i} {padding}", (await events.ReadEventAsync()).Data.GetProperty("text").GetString());
    }

    [Fact]
    public async Task History_without_a_NATS_backplane_stops_the_start_naming_the_setting()
    {
        var failure = await Assert.ThrowsAsync<GatewayStartupException>(() => TestGateway.StartAsync("Gateway:Backplane:History:Enabled=true"));
        Assert.Contains("Gateway:Backplane:History:Enabled needs Gateway:Backplane:Kind Nats", failure.Message);
    }

    private Task WaitForConsumersAsync(int count, string stream = "gw_history") =>
        Eventually.TrueAsync(async () => await _jetStream.ListConsumerNamesAsync(stream).CountAsync() >= count, $"{count} consumers of {stream}");

    private Task WaitForStreamAsync(string stream = "gw_history") =>
        Eventually.TrueAsync(async () =>
        {
            try
            {
                await _jetStream.GetStreamAsync(stream);
                return true;
            }
            catch (NatsJSApiException)
            {
                return false;
            }
        }, $"the stream {stream} exists");
}
