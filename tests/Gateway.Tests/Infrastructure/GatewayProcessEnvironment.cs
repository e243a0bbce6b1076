namespace Gateway.Tests.Infrastructure;

/// <summary>
/// Environment variables for a gateway process started by a test: the HTTP host on a free port, and each endpoint of
/// the repository's appsettings.json on port 0 (its Unix socket ones off), so the process never meets another test's
/// or a developer's gateway on the default ports. Callers add or override what they need. The process also inherits the
/// test run's own environment (<see cref="ProcessRunner"/> only adds to it), so a transport chosen for the whole run
/// with Gateway__Transport__Kind (scripts/test.sh runs the functional tests on each) reaches it as well.
/// </summary>
internal static class GatewayProcessEnvironment
{
    public static Dictionary<string, string> OnFreePorts(out int httpPort)
    {
        httpPort = FreePort.Next();
        var environment = new Dictionary<string, string> { ["Gateway__Http__Port"] = httpPort.ToString() };
        foreach (var endpoint in DefaultEndpoints.All)
        {
            if (endpoint.UnixSocketPath is not null)
                environment[$"Gateway__Endpoints__{endpoint.Name}__Enabled"] = "false";
            else
                environment[$"Gateway__Endpoints__{endpoint.Name}__Port"] = "0";
        }

        return environment;
    }
}
