using System.ComponentModel;
using System.Globalization;
using System.Reflection;

namespace Gateway.Configuration;

/// <summary>
/// Reads a configuration section against the options type it binds to, as the configuration binder does, and finds
/// every key that is not a setting and every value that does not convert. The binder stops at the first of them
/// with a message in .NET's terms (type names, 'ErrorOnUnknownConfiguration'); this names each by its path, in a
/// user's terms: <c>Gateway:Endpoints:echo:Framing:Kind 'Lenght' is not one of: LengthField, Delimiter, Line, FixedLength</c>.
/// </summary>
internal static class SettingsShape
{
    /// <summary>A key at fault and the line that says why; <paramref name="Subtree"/>: the keys below it are at fault too.</summary>
    public readonly record struct Problem(string Path, string Message, bool Subtree);

    /// <summary>Every problem of <paramref name="section"/> as a <paramref name="type"/>, in the order of the configuration.</summary>
    public static List<Problem> Check(IConfigurationSection section, Type type)
    {
        var problems = new List<Problem>();
        CheckSection(section, type, problems);
        return problems;
    }

    /// <summary>The section, copied without the keys at fault, so that the binder reads the rest without an error.</summary>
    public static IConfigurationSection Without(IConfigurationSection section, IReadOnlyCollection<Problem> problems)
    {
        var kept = section.AsEnumerable().Where(pair => pair.Value is not null && !problems.Any(problem => Covers(problem, pair.Key)));
        return new ConfigurationBuilder().AddInMemoryCollection(kept).Build().GetSection(section.Path);
    }

    private static bool Covers(Problem problem, string key) =>
        key.Equals(problem.Path, StringComparison.OrdinalIgnoreCase)
        || problem.Subtree && key.StartsWith(problem.Path + ConfigurationPath.KeyDelimiter, StringComparison.OrdinalIgnoreCase);

    private static void CheckSection(IConfigurationSection section, Type type, List<Problem> problems)
    {
        var valueType = Nullable.GetUnderlyingType(type) ?? type;
        if (IsValue(valueType))
        {
            // The binder reads an empty value as null where null is allowed.
            if (section.Value is { } value && !(value.Length == 0 && (valueType != type || !type.IsValueType)))
                CheckValue(section.Path, value, valueType, problems);
            foreach (var child in section.GetChildren())
                problems.Add(new(child.Path, $"{child.Path} is not a setting: {section.Path} takes a single value", Subtree: true));
            return;
        }

        if (!string.IsNullOrEmpty(section.Value))
            problems.Add(new(section.Path, $"{section.Path} is a group of settings, not a value (was '{section.Value}')", Subtree: false));

        if (EntryType(type) is { } entryType)
        {
            // A dictionary's keys are names the user chooses, a list's are indexes: every entry is read as the entry type.
            foreach (var child in section.GetChildren())
                CheckSection(child, entryType, problems);
            return;
        }

        var settings = Settings(type);
        foreach (var child in section.GetChildren())
        {
            if (settings.TryGetValue(child.Key, out var property))
                CheckSection(child, property.PropertyType, problems);
            else if (Retired(type, child.Key) is { } retired)
                problems.Add(new(child.Path, $"{child.Path} {retired.Replacement}", Subtree: true));
            else
                problems.Add(new(child.Path, $"{child.Path} is not a setting{Suggestion(child.Key, settings.Values)}", Subtree: true));
        }
    }

    private static RetiredSettingAttribute? Retired(Type type, string key) =>
        type.GetCustomAttributes(typeof(RetiredSettingAttribute), inherit: false).Cast<RetiredSettingAttribute>()
            .FirstOrDefault(retired => retired.Name.Equals(key, StringComparison.OrdinalIgnoreCase));

    /// <summary>A type the binder converts from one string (numbers, enums, TimeSpan, Uri), as it decides: by its type converter.</summary>
    private static bool IsValue(Type type) =>
        type == typeof(string) || TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string));

    /// <summary>The value type of a dictionary with string keys, or the element type of an array or list; null for other types.</summary>
    private static Type? EntryType(Type type)
    {
        if (type.IsArray) return type.GetElementType();
        var interfaces = type.IsInterface ? [type, .. type.GetInterfaces()] : type.GetInterfaces();
        var dictionary = interfaces.FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dictionary is not null) return dictionary.GetGenericArguments()[1];
        var enumerable = interfaces.FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        return enumerable?.GetGenericArguments()[0];
    }

    /// <summary>
    /// The properties the binder sets: public, readable and not indexers; a get-only one only when the binder can fill
    /// in the object it returns (a section or a list), never a computed value such as <c>Https:IsEnabled</c>.
    /// </summary>
    private static Dictionary<string, PropertyInfo> Settings(Type type)
    {
        var settings = new Dictionary<string, PropertyInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0) continue;
            var settable = property.SetMethod is { IsPublic: true } || !IsValue(Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType);
            if (settable) settings.TryAdd(property.Name, property);
        }

        return settings;
    }

    private static void CheckValue(string path, string value, Type type, List<Problem> problems)
    {
        if (type == typeof(string)) return;
        object? converted;
        try
        {
            converted = TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException or NotSupportedException or InvalidCastException)
        {
            problems.Add(new(path, $"{path} '{value}' {Expected(type)}", Subtree: false));
            return;
        }

        // The binder takes a number for an enum, even one that names no value; a setting should name one.
        if (type.IsEnum && (converted is null || !Enum.IsDefined(type, converted)))
            problems.Add(new(path, $"{path} '{value}' {Expected(type)}", Subtree: false));
    }

    private static string Expected(Type type)
    {
        if (type.IsEnum) return "is not one of: " + string.Join(", ", Enum.GetNames(type));
        if (type == typeof(bool)) return "is not true or false";
        if (type == typeof(TimeSpan)) return "is not a duration such as 00:00:30 (hours:minutes:seconds)";
        if (type == typeof(Uri)) return "is not an address such as http://collector:4317";
        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal)) return "is not a number";
        if (type.IsPrimitive && type != typeof(char) && type.GetField("MinValue") is { } min && type.GetField("MaxValue") is { } max)
            return string.Create(CultureInfo.InvariantCulture, $"is not a whole number from {min.GetValue(null)} to {max.GetValue(null)}");
        return "is not a valid value here";
    }

    /// <summary>"; did you mean Port?" for a key one or two edits away from a setting's name, else nothing.</summary>
    private static string Suggestion(string key, IEnumerable<PropertyInfo> settings)
    {
        var best = settings
            .Select(setting => (setting.Name, Distance: EditDistance(key.ToUpperInvariant(), setting.Name.ToUpperInvariant())))
            .OrderBy(candidate => candidate.Distance)
            .FirstOrDefault();
        return best.Name is not null && best.Distance <= 2 && best.Distance * 2 < key.Length ? $"; did you mean {best.Name}?" : "";
    }

    /// <summary>Edits (insert, delete, replace, swap two neighbours) that turn <paramref name="a"/> into <paramref name="b"/>.</summary>
    private static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (var j = 0; j <= b.Length; j++) d[0, j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }

        return d[a.Length, b.Length];
    }
}
