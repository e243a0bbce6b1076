using System.Net.Sockets;
using Gateway.Configuration;
using Gateway.Observability;
using Gateway.Connections;
using Gateway.WebSockets;
using Microsoft.AspNetCore.Connections;

namespace Gateway;

/// <summary>Builds and starts the gateway; shared by Program and the functional tests.</summary>
public static class GatewayApplication
{
    public static WebApplication Build(string[] args, string? contentRoot = null, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            // appsettings.json is copied next to the binaries, so the same file is found under
            // `dotnet run`, in a published folder and in the container, whatever the working directory.
            ContentRootPath = contentRoot ?? AppContext.BaseDirectory,
        });
        builder.AddGatewayLogging();
        StartupLog.AddTo(builder);

        builder.Services
            .AddGatewayOptions(builder.Configuration)
            .AddGatewaySecurity()
            .AddGatewayTransport(builder.Configuration)
            .AddGatewayTelemetry(builder.Configuration, builder.Environment)
            .AddMessaging()
            .AddBackplane()
            .AddGatewayConnections()
            .AddOverloadProtection()
            .AddTcpEndpoints()
            .AddUdpEndpoints()
            .AddHttpHost()
            .AddWebSocketEndpoint()
            .AddRoutes(builder.Configuration)
            .AddTunnels();
        configure?.Invoke(builder);

        WebApplication app;
        try
        {
            app = builder.Build();
        }
        catch (Exception ex) when (Describe(ex, builder.Configuration, services: null) is { } description)
        {
            throw new GatewayStartupException(description, ex);
        }

        app.MapHttpHost();
        app.MapWebSocketEndpoint();
        app.MapTunnels();
        return app;
    }

    /// <summary>
    /// Starts the app. A bad setting or a port in use ends the start with a message that names the setting;
    /// the exception is rethrown as <see cref="GatewayStartupException"/>.
    /// </summary>
    public static async Task StartAsync(WebApplication app, CancellationToken cancellationToken = default)
    {
        try
        {
            using (StartupLog.Starting(app.Services))
                await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await StopAfterFailedStartAsync(app).ConfigureAwait(false);
            if (Describe(ex, app.Configuration, app.Services) is { } description) throw new GatewayStartupException(description, ex);
            throw;
        }

        LogEndpoints(app);
    }

    /// <summary>
    /// Stops what had started before the start failed, so that disposing the app afterwards is a deliberate stop.
    /// </summary>
    /// <remarks>
    /// Since .NET 10 a <c>BackgroundService</c> starts its loop with <c>Task.Run(..., stoppingToken)</c>: disposed right
    /// after a failed start, the host can cancel a loop before it has run, and then reports that service as failed, an
    /// error after the line that names the setting. After a stop it reports nothing. The start's own exception is what
    /// the caller needs, so a failure to stop is not added to it.
    /// </remarks>
    private static async Task StopAfterFailedStartAsync(WebApplication app)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await app.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Whatever stopping met, the start's failure is the one to report.
        }
    }

    /// <summary>One line per endpoint of every capability, once all are bound: where it listens and what it does.</summary>
    private static void LogEndpoints(WebApplication app)
    {
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gateway");
        foreach (var endpoint in app.Services.GetRequiredService<EndpointDirectory>().Endpoints)
        {
            var topics = $"publish {endpoint.Publish ?? "(none)"}, subscribe [{string.Join(", ", endpoint.Subscribe)}]";
            ConnectionLog.EndpointListening(logger, endpoint.Name, endpoint.BoundEndPoint?.ToString() ?? "(not bound)", endpoint.Protocol,
                endpoint.Details.Length > 0 ? $"{endpoint.Details}, {topics}" : topics);
        }
    }

    private static string? Describe(Exception exception, IConfiguration configuration, IServiceProvider? services)
    {
        switch (exception)
        {
            case OptionsValidationException validation:
                return InvalidConfiguration(validation.Failures);
            case InvalidOperationException when GatewayLogging.FindInvalidFrameworkLevels(configuration) is { Count: > 0 } levels:
                // The framework's logger factory reads Logging's levels first, and throws naming the value but not the key.
                return InvalidConfiguration(levels);
            case InvalidOperationException { TargetSite.DeclaringType: var thrower } when thrower == typeof(ConfigurationBinder):
                // The binder's own message names the key: "Failed to convert configuration value at
                // 'Gateway:Endpoints:echo:Port'", or "... properties were not found on ... GatewayOptions: 'Htp'".
                return "Invalid configuration: " + exception.Message + (exception.InnerException is { } inner ? " " + inner.Message : "");
        }

        if (services is null || FindAddressInUse(exception) is null) return null;
        return PortConflicts.Describe(services.GetRequiredService<IOptions<GatewayOptions>>().Value);
    }

    private static string InvalidConfiguration(IEnumerable<string> errors) =>
        "Invalid configuration:" + Environment.NewLine + "  " + string.Join(Environment.NewLine + "  ", errors);

    private static Exception? FindAddressInUse(Exception? exception)
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is AddressInUseException || exception is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse })
                return exception;
        }

        return null;
    }
}

/// <summary>The gateway could not start; the message names the setting to change.</summary>
public sealed class GatewayStartupException(string message, Exception inner) : Exception(message, inner);
