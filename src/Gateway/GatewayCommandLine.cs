using System.Reflection;
using Gateway.Observability;

namespace Gateway;

/// <summary>
/// The few arguments the gateway answers without starting: <c>--help</c> and <c>--version</c>. Every other argument
/// is configuration (<c>--Gateway:Http:Port=8081</c>, or <c>--Gateway:Http:Port 8081</c>), read by the host's
/// command-line provider.
/// </summary>
/// <remarks>
/// Hand-written rather than System.CommandLine: a parser there would have to let every configuration key through as
/// an unmatched token, which is all this class does besides the two flags.
/// </remarks>
internal static class GatewayCommandLine
{
    private static readonly string[] s_helpFlags = ["--help", "-h", "-?"];
    private const string VersionFlag = "--version";

    /// <summary>The informational version: the project's version and, in a build from a git checkout, its commit.</summary>
    public static string Version { get; } =
        typeof(GatewayCommandLine).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(GatewayCommandLine).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    /// <summary>Writes the help or the version when <paramref name="args"/> asks for either; null means: start the gateway.</summary>
    public static int? TryAnswer(string[] args, TextWriter output)
    {
        if (args.Any(arg => s_helpFlags.Contains(arg, StringComparer.Ordinal)))
        {
            output.Write(Help());
            return 0;
        }

        if (args.Contains(VersionFlag, StringComparer.Ordinal))
        {
            output.WriteLine(Version);
            return 0;
        }

        return null;
    }

    /// <summary>
    /// The arguments for the configuration, less the options that carry no value (<c>--verbose</c>), each reported on
    /// <paramref name="warnings"/>. The command-line provider would otherwise read the next argument as such an
    /// option's value, and so lose a setting given after it: in <c>--verbose --Gateway:Http:Port=8081</c> the port.
    /// </summary>
    public static string[] ConfigurationArguments(string[] args, TextWriter warnings)
    {
        var kept = new List<string>(args.Length);
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            var takesNoValue = arg.StartsWith("--", StringComparison.Ordinal) && !arg.Contains('=')
                && (i == args.Length - 1 || args[i + 1].StartsWith("--", StringComparison.Ordinal));
            if (takesNoValue)
                warnings.WriteLine($"Ignoring {arg}: it has no value. Settings are given as --Gateway:Http:Port=8081; see --help.");
            else
                kept.Add(arg);
        }

        return [.. kept];
    }

    private static string Help() =>
        $"""
        Gateway {Version}
        A multi-protocol message gateway: devices, services and browsers connect over framed TCP, TLS, Unix domain
        sockets, UDP, HTTP(S), WebSocket and server-sent events, and exchange messages through one topic space.

        Usage:
          Gateway [setting ...]   start the gateway (in a published folder: dotnet Gateway.dll [setting ...])
          Gateway {ReadinessProbe.Command}           ask the gateway running here for /readyz on its HTTP port: exit 0 when
                                  ready, 1 when not (the container's health check)
          Gateway --help          print this help (also -h)
          Gateway --version       print the version

        Settings, each source overriding the one before it:
          appsettings.json next to the binary ({Path.Combine(AppContext.BaseDirectory, "appsettings.json")})
          environment variables, levels joined by __:   Gateway__Endpoints__echo__Port=9100
          command-line arguments, levels joined by ':':  --Gateway:Http:Port=8081
        A wrong setting stops the start with one line per problem, each naming its setting (exit code 2).

        Documentation: README.md at the root of the source repository (Quickstart, Configuration reference, Operations).

        """;
}
