using System.Text.Json;

namespace Gateway.Tests.Http;

/// <summary>Reads a server-sent event stream over a real HTTP connection, one event at a time.</summary>
internal sealed class SseClient : IAsyncDisposable
{
    private readonly HttpClient _http;
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseClient(HttpClient http, HttpResponseMessage response, StreamReader reader)
    {
        _http = http;
        _response = response;
        _reader = reader;
    }

    public HttpResponseMessage Response => _response;

    /// <summary>The data line of the event <see cref="ReadEventAsync"/> returned last, as the server wrote it.</summary>
    public string? LastData { get; private set; }

    /// <param name="handler">For HTTPS: trusts the server's CA, perhaps presents a client certificate.</param>
    public static async Task<SseClient> OpenAsync(Uri baseAddress, string path, string? lastEventId = null, HttpMessageHandler? handler = null)
    {
        var http = new HttpClient(handler ?? new SocketsHttpHandler()) { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        return new SseClient(http, response, reader);
    }

    /// <summary>The next event: its id and its JSON data; comment lines (keep-alives) are skipped.</summary>
    public async Task<(string Id, JsonElement Data)> ReadEventAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        string? id = null;
        string? data = null;
        while (true)
        {
            var line = await _reader.ReadLineAsync(cts.Token) ?? throw new EndOfStreamException("The event stream ended.");
            if (line.Length == 0)
            {
                if (data is not null)
                {
                    LastData = data;
                    return (id!, JsonSerializer.Deserialize<JsonElement>(data));
                }

                continue;
            }

            if (line.StartsWith("id: ", StringComparison.Ordinal)) id = line[4..];
            else if (line.StartsWith("data: ", StringComparison.Ordinal)) data = line[6..];
        }
    }

    public async ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        _http.Dispose();
        await Task.CompletedTask;
    }
}
