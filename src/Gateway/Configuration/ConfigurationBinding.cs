namespace Gateway.Configuration;

/// <summary>How the <c>Gateway</c> section is bound: an unknown key is an error, so a misspelt setting is reported instead of ignored.</summary>
internal static class ConfigurationBinding
{
    public static void Strict(BinderOptions options) => options.ErrorOnUnknownConfiguration = true;
}
