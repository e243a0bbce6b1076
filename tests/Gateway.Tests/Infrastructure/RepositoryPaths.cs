namespace Gateway.Tests.Infrastructure;

/// <summary>Finds files of the repository from the test's output folder.</summary>
internal static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    /// <summary>The gateway's build output (referenced by this project, so it is built alongside the tests).</summary>
    public static string GatewayDll => Path.Combine(AppContext.BaseDirectory, "Gateway.dll");

    public static string SeedsInterop => Path.Combine(AppContext.BaseDirectory, "Interop");

    /// <summary>The Node clients' source folder, where scripts/test.sh installs their npm packages.</summary>
    public static string InteropSource => Path.Combine(Root, "tests", "Gateway.Tests", "Interop");

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Gateway.sln"))) return directory.FullName;
        }

        throw new InvalidOperationException("Gateway.sln not found above " + AppContext.BaseDirectory);
    }
}
