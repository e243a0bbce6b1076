using System.Collections.Concurrent;
using System.Net;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Gateway.Tests.Routing;

/// <summary>
/// A real HTTP service for routes to forward to (Kestrel on a loopback port), scripted to answer each request in turn:
/// a status, a <c>Retry-After</c>, a delay, a reset. Once the script is used up it answers 200 with "re:" and the body.
/// It records every request it receives, the failed attempts too.
/// </summary>
internal sealed class ScriptedUpstream : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Func<HttpContext, Task>> _script = new();

    private ScriptedUpstream(WebApplication app, string scheme, string host)
    {
        _app = app;
        var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First();
        var port = new Uri(address).Port;
        Url = new Uri($"{scheme}://{host}:{port}/ingest");
    }

    /// <summary>Where the route sends: <c>/ingest</c> on the service's port.</summary>
    public Uri Url { get; }

    public ConcurrentQueue<ReceivedRequest> Received { get; } = new();

    /// <summary>Answers every request after the script with this; 200 and "re:" + the body unless set.</summary>
    public Func<HttpContext, Task> Otherwise { get; set; } = Answer;

    /// <summary>Starts the service on a free loopback port (or <paramref name="port"/>).</summary>
    /// <param name="https">Serves HTTPS with these options, named "localhost".</param>
    public static async Task<ScriptedUpstream> StartAsync(HttpProtocols protocols = HttpProtocols.Http1, HttpsConnectionAdapterOptions? https = null, int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, port, listen =>
        {
            listen.Protocols = protocols;
            if (https is not null) listen.UseHttps(https);
        }));
        var app = builder.Build();
        ScriptedUpstream? upstream = null;
        app.Run(async context =>
        {
            var body = await new StreamReader(context.Request.Body, Encoding.UTF8).ReadToEndAsync();
            var request = context.Request;
            upstream!.Received.Enqueue(new ReceivedRequest(DateTimeOffset.UtcNow, request.Protocol, body, request.Headers["X-Gateway-Topic"].ToString(),
                request.Headers["X-Gateway-Message-Id"].ToString(), request.ContentType, context.Connection.ClientCertificate?.GetNameInfo(System.Security.Cryptography.X509Certificates.X509NameType.SimpleName, false),
                request.Headers.TraceParent.ToString()));
            context.Items["body"] = body;
            await (upstream._script.TryDequeue(out var step) ? step : upstream.Otherwise)(context);
        });
        await app.StartAsync();
        upstream = new ScriptedUpstream(app, https is null ? "http" : "https", https is null ? "127.0.0.1" : "localhost");
        return upstream;
    }

    /// <summary>The next requests are answered by these, in order.</summary>
    public void Then(params Func<HttpContext, Task>[] steps)
    {
        foreach (var step in steps)
            _script.Enqueue(step);
    }

    /// <summary>200 with "re:" and the request's body.</summary>
    public static Task Answer(HttpContext context)
    {
        context.Response.ContentType = "text/plain";
        return context.Response.WriteAsync("re:" + context.Items["body"]);
    }

    /// <summary>An empty answer with this status (and <c>Retry-After</c> in seconds, when given).</summary>
    public static Func<HttpContext, Task> Status(int status, int? retryAfterSeconds = null) => context =>
    {
        context.Response.StatusCode = status;
        if (retryAfterSeconds is { } seconds) context.Response.Headers.RetryAfter = seconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Task.CompletedTask;
    };

    /// <summary>Waits, then answers as the service otherwise would (unless the caller gave up first).</summary>
    public static Func<HttpContext, Task> Slow(TimeSpan delay) => async context =>
    {
        try
        {
            await Task.Delay(delay, context.RequestAborted);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        await Answer(context);
    };

    /// <summary>Resets the connection without an answer.</summary>
    public static Task Reset(HttpContext context)
    {
        context.Abort();
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(timeout.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>One request the upstream received.</summary>
internal sealed record ReceivedRequest(DateTimeOffset At, string Protocol, string Body, string Topic, string MessageId, string? ContentType, string? ClientCertificateName,
    string TraceParent);
