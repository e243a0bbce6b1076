// Checks that routegen's HTTP sink answers what .NET's SocketsHttpHandler sends (the gateway's HTTP route client):
// POSTs with a Content-Length body, with a chunked body and with "Expect: 100-continue", concurrently over a pool of
// 16 keep-alive connections, and fails unless every answer is 204.
//
// usage: bench/out/routegen --sink-only --sink-port 9401 --warmup 0 --duration 60 & sink=$!
//        dotnet run bench/loadgen/sink-check.cs -- http://127.0.0.1:9401/ingest [REQUESTS]
//        kill -TERM $sink    # routegen then reports what it counted: msgs= (unstamped=) and sink_conns_max=
#:property PublishAot=false

using System.Net;
using System.Net.Http.Headers;

var url = new Uri(args.Length > 0 ? args[0] : "http://127.0.0.1:9401/ingest");
var requests = args.Length > 1 ? int.Parse(args[1]) : 3000;
using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 16 });
var body = new byte[64];
Array.Fill(body, (byte)'x');

// Each kind of body the gateway's client might send.
HttpRequestMessage Request(int i)
{
    var request = new HttpRequestMessage(HttpMethod.Post, url);
    switch (i % 3)
    {
        case 0:
            request.Content = new ReadOnlyMemoryContent(body);
            break;
        case 1:
            request.Content = new StreamContent(new MemoryStream(body));
            request.Content.Headers.ContentLength = null;
            request.Headers.TransferEncodingChunked = true;
            break;
        default:
            request.Content = new ByteArrayContent(body);
            request.Headers.ExpectContinue = true;
            break;
    }
    request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
    return request;
}

var statuses = new int[requests];
await Parallel.ForEachAsync(Enumerable.Range(0, requests), new ParallelOptions { MaxDegreeOfParallelism = 32 },
    async (i, ct) =>
    {
        using var response = await client.SendAsync(Request(i), ct);
        statuses[i] = (int)response.StatusCode;
    });
var wrong = statuses.Count(s => s != (int)HttpStatusCode.NoContent);
Console.WriteLine($"sink-check: {requests} POSTs (Content-Length, chunked, Expect: 100-continue), {wrong} not answered 204");
return wrong == 0 ? 0 : 1;
