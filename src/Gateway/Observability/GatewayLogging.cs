using System.Globalization;
using Gateway.Configuration;
using Serilog;
using Serilog.Events;
using Serilog.Extensions.Logging;
using Serilog.Formatting.Json;

namespace Gateway.Observability;

/// <summary>
/// Logging through Serilog to the console, one line per event: readable text by default, JSON objects when
/// <c>Gateway:LogFormat</c> is <c>Json</c> (the container sets it). The <c>Serilog</c> section sets the levels per
/// namespace (<c>Serilog:MinimumLevel:Override</c>, also from environment variables such as
/// <c>Serilog__MinimumLevel__Override__Gateway.Tcp=Debug</c>) and may add sinks; the framework's
/// <c>Logging:LogLevel</c> settings count too, and win where both name a category (<see cref="ApplyFrameworkLevels"/>).
/// </summary>
/// <remarks>
/// Serilog is one provider of the framework's logger factory rather than the factory itself, which is what
/// Serilog.AspNetCore's <c>services.AddSerilog</c> would make it: that factory ignores the framework's filters, and
/// hands the other providers (the functional tests add one) only the events Serilog's own levels let through, with
/// their messages rendered again in Serilog's way, strings in quotes.
/// </remarks>
internal static class GatewayLogging
{
    private const string TextTemplate = "{Timestamp:HH:mm:ss.fff} {Level:u3} {SourceContext} {Message:lj}{NewLine}{Exception}";

    public static void AddGatewayLogging(this WebApplicationBuilder builder)
    {
        builder.Logging.ClearProviders();
        // Serilog's levels decide: the framework's own filter lets everything through to it.
        builder.Logging.SetMinimumLevel(LogLevel.Trace);
        builder.Logging.AddFilter<SerilogLoggerProvider>(category: null, LogLevel.Trace);
        // Made when the container makes the first logger, from the configuration as it is then (a source added after this
        // call counts), and disposed with the container, which flushes its sinks.
        builder.Services.AddSingleton<ILoggerProvider>(services => new SerilogLoggerProvider(CreateLogger(services), dispose: true));
    }

    private static Serilog.Core.Logger CreateLogger(IServiceProvider services)
    {
        var configuration = services.GetRequiredService<IConfiguration>();
        // A value that is not a format is reported, naming the setting, by the options' validation at start.
        _ = Enum.TryParse<LogFormat>(configuration[$"{GatewayOptions.SectionName}:{nameof(GatewayOptions.LogFormat)}"], ignoreCase: true, out var format);
        var serilog = new LoggerConfiguration()
            .ReadFrom.Configuration(configuration).Filter.ByExcluding(IsHostAddressLine);
        ApplyFrameworkLevels(serilog, configuration.GetSection("Logging:LogLevel"));
        // The format is chosen here rather than in WriteTo, as configuration can add a setting but never remove one.
        return (format == LogFormat.Json
                ? serilog.WriteTo.Console(new JsonFormatter(renderMessage: true))
                : serilog.WriteTo.Console(outputTemplate: TextTemplate, formatProvider: CultureInfo.InvariantCulture))
            .CreateLogger();
    }

    /// <summary>
    /// The framework's level settings (<c>Logging:LogLevel:Default</c> and <c>Logging:LogLevel:{category}</c>), which an
    /// ASP.NET Core user sets first, as Serilog's minimum levels: Serilog decides alone (the framework's filter lets
    /// everything through to it), so without this they would change nothing. Applied after the <c>Serilog</c> section,
    /// so a category both name takes Logging's level; a category's level covers the categories under it in both.
    /// </summary>
    private static void ApplyFrameworkLevels(LoggerConfiguration serilog, IConfigurationSection levels)
    {
        foreach (var setting in levels.GetChildren())
        {
            // A value that is not a level stops the start (FindInvalidFrameworkLevels names it): the framework's reading throws.
            if (!Enum.TryParse<LogLevel>(setting.Value, ignoreCase: true, out var level)) continue;
            var serilogLevel = level == LogLevel.None ? LevelAlias.Off : LevelConvert.ToSerilogLevel(level);
            if (setting.Key.Equals("Default", StringComparison.OrdinalIgnoreCase)) serilog.MinimumLevel.Is(serilogLevel);
            else serilog.MinimumLevel.Override(setting.Key, serilogLevel);
        }
    }

    /// <summary>
    /// Every framework level setting (<c>Logging:LogLevel:{category}</c>, or a provider's <c>Logging:{provider}:LogLevel:{category}</c>)
    /// whose value is not a level, one line each naming it: the framework throws at the first, naming only the value.
    /// </summary>
    public static List<string> FindInvalidFrameworkLevels(IConfiguration configuration) =>
        configuration.GetSection("Logging").AsEnumerable()
            .Where(setting => setting.Value is not null && IsLevelSetting(setting.Key)
                && !Enum.TryParse<LogLevel>(setting.Value, ignoreCase: true, out _))
            .OrderBy(setting => setting.Key, StringComparer.Ordinal)
            .Select(setting => $"{setting.Key} '{setting.Value}' is not one of: {string.Join(", ", Enum.GetNames<LogLevel>())}")
            .ToList();

    private static bool IsLevelSetting(string key)
    {
        var path = key.Split(ConfigurationPath.KeyDelimiter);
        return path.Length >= 3 && path[^2].Equals("LogLevel", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The web host's "Now listening on: http://127.0.0.1:9000" lines, one per Kestrel listener: they name every listener
    /// as an HTTP address, the framed TCP endpoints' too. The gateway's own line per endpoint says where each listens and
    /// what it speaks (ConnectionLog.EndpointListening), so these are left out.
    /// </summary>
    private static bool IsHostAddressLine(LogEvent logEvent) =>
        logEvent.Properties.TryGetValue("EventId", out var eventId) && eventId is StructureValue { Properties: var properties }
        && properties.Any(property => property is { Name: "Name", Value: ScalarValue { Value: "ListeningOnAddress" } })
        && logEvent.Properties.TryGetValue("SourceContext", out var source) && source is ScalarValue { Value: "Microsoft.Hosting.Lifetime" };
}
