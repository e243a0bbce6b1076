using System.Diagnostics;

namespace Gateway.Http;

/// <summary>
/// One line per HTTP request when it ends: method, path (never the query, which may carry an access token), status and
/// duration. A WebSocket or event stream's own lines come when it opens and closes, from its session.
/// </summary>
internal static partial class RequestLogging
{
    private const string Category = "Gateway.Http.Requests";

    public static void UseRequestLogging(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(Category);
        app.Use(async (context, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            var status = StatusCodes.Status500InternalServerError;
            try
            {
                await next(context);
                status = context.Response.StatusCode;
            }
            finally
            {
                RequestCompleted(logger, context.Request.Method, context.Request.Path, status, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        });
    }

    [LoggerMessage(EventId = LogEventIds.Http, EventName = "RequestCompleted", Level = LogLevel.Information,
        Message = "HTTP {Method} {Path} responded {StatusCode} in {ElapsedMs:0.0} ms")]
    private static partial void RequestCompleted(ILogger logger, string method, string path, int statusCode, double elapsedMs);
}
