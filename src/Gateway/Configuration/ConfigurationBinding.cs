namespace Gateway.Configuration;

/// <summary>How the <c>Gateway</c> section is bound: an unknown key is an error, so a misspelt setting is reported instead of ignored.</summary>
internal static class ConfigurationBinding
{
    public static void Strict(BinderOptions options) => options.ErrorOnUnknownConfiguration = true;

    /// <summary>
    /// Binds the section, less the keys <see cref="SettingsShape"/> finds at fault: the validator reports those, every
    /// one, with its own errors, where the binder would have thrown at the first.
    /// </summary>
    public static void Bind(IConfigurationSection section, object options)
    {
        var problems = SettingsShape.Check(section, options.GetType());
        (problems.Count == 0 ? section : SettingsShape.Without(section, problems)).Bind(options, Strict);
    }
}
