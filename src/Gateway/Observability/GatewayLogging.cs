using System.Diagnostics;
using System.Globalization;
using Gateway.Configuration;
using Serilog;
using Serilog.Formatting.Json;
using ILogger = Microsoft.Extensions.Logging.ILogger;

namespace Gateway.Observability;

/// <summary>
/// Logging through Serilog to the console, one line per event: readable text by default, JSON objects when
/// <c>Gateway:LogFormat</c> is <c>Json</c> (the container sets it). The <c>Serilog</c> section sets the levels per
/// namespace (<c>Serilog:MinimumLevel:Override</c>, also from environment variables such as
/// <c>Serilog__MinimumLevel__Override__Gateway.Tcp=Debug</c>) and may add sinks. Also one line per HTTP request.
/// </summary>
internal static partial class GatewayLogging
{
    private const string RequestCategory = "Gateway.Http.Requests";
    private const string TextTemplate = "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext} {Message:lj}{NewLine}{Exception}";

    public static void AddGatewayLogging(this WebApplicationBuilder builder)
    {
        // A value that is not a format is reported, naming the setting, by the options' validation at start.
        _ = Enum.TryParse<LogFormat>(builder.Configuration[$"{GatewayOptions.SectionName}:{nameof(GatewayOptions.LogFormat)}"], ignoreCase: true, out var format);
        var configuration = new LoggerConfiguration().ReadFrom.Configuration(builder.Configuration);
        // The format is chosen here rather than in WriteTo, as configuration can add a setting but never remove one.
        var serilog = (format == LogFormat.Json
                ? configuration.WriteTo.Console(new JsonFormatter(renderMessage: true))
                : configuration.WriteTo.Console(outputTemplate: TextTemplate, formatProvider: CultureInfo.InvariantCulture))
            .CreateLogger();
        builder.Logging.ClearProviders();
        // Serilog's levels decide: the framework's own filter lets everything through to it.
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddSerilog(serilog, dispose: true);
    }

    /// <summary>
    /// One line per HTTP request when it ends: method, path (never the query, which may carry an access token),
    /// status and duration. A WebSocket or event stream's line comes when it closes.
    /// </summary>
    public static void UseRequestLogging(this WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(RequestCategory);
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

    [LoggerMessage(EventId = 600, EventName = "RequestCompleted", Level = LogLevel.Information,
        Message = "HTTP {Method} {Path} responded {StatusCode} in {ElapsedMs:0.0} ms")]
    private static partial void RequestCompleted(ILogger logger, string method, string path, int statusCode, double elapsedMs);
}
