namespace Gateway.Configuration;

/// <summary>
/// A setting the options type once had: a configuration that still sets it fails the start with what replaced it
/// (<see cref="SettingsShape"/>), rather than the bare "is not a setting" a typo gets.
/// </summary>
/// <param name="name">The setting's key within the section.</param>
/// <param name="replacement">What to do instead, read after the setting's path: "{path} was replaced by ...".</param>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = true)]
internal sealed class RetiredSettingAttribute(string name, string replacement) : Attribute
{
    public string Name { get; } = name;

    public string Replacement { get; } = replacement;
}
