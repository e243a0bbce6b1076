using System.Buffers;
using System.Diagnostics.CodeAnalysis;

namespace Gateway.Protocols.Topics;

/// <summary>Rules for topic names: '/'-separated levels as in MQTT, without wildcards.</summary>
public static class Topic
{
    /// <summary>The longest topic or topic filter accepted, in characters.</summary>
    public const int MaxLength = 1024;

    /// <summary>Separates the levels of a topic or filter.</summary>
    public const char LevelSeparator = '/';

    /// <summary>The single-level wildcard of filters.</summary>
    public const char SingleLevelWildcard = '+';

    /// <summary>The multi-level wildcard of filters.</summary>
    public const char MultiLevelWildcard = '#';

    private static readonly SearchValues<char> s_wildcards = SearchValues.Create("+#");

    // C0 controls and DEL: invisible in logs and consoles, where they could forge a line or hide a topic's real name.
    private static readonly SearchValues<char> s_controlCharacters = SearchValues.Create(
        "\0\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0A\x0B\x0C\x0D\x0E\x0F\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1A\x1B\x1C\x1D\x1E\x1F\x7F");

    /// <summary>Whether <paramref name="topic"/> is a valid topic; when not, <paramref name="error"/> says why.</summary>
    public static bool IsValid(string topic, [NotNullWhen(false)] out string? error)
    {
        string? reason = GetError(topic);
        error = reason is null ? null : $"Invalid topic {Quote(topic)}: {reason}.";
        return reason is null;
    }

    /// <summary>Throws <see cref="TopicException"/> when <paramref name="topic"/> is not a valid topic.</summary>
    public static void Validate(string topic)
    {
        if (!IsValid(topic, out string? error))
        {
            throw new TopicException(error);
        }
    }

    /// <summary>Why <paramref name="topic"/> is invalid, as a clause without the topic itself; null when it is valid.</summary>
    internal static string? GetError(string? topic)
    {
        if (string.IsNullOrEmpty(topic))
        {
            return "a topic must not be empty";
        }

        if (topic.Length > MaxLength)
        {
            return $"it is {topic.Length} characters long; the maximum is {MaxLength}";
        }

        if (GetControlCharacterError(topic) is { } control)
        {
            return control;
        }

        int index = topic.AsSpan().IndexOfAny(s_wildcards);
        if (index >= 0)
        {
            return $"it contains the wildcard '{topic[index]}' at position {index}; wildcards are allowed only in topic filters";
        }

        return null;
    }

    /// <summary>Whether <paramref name="c"/> is a control character, which no topic or filter may contain (U+0000-U+001F, U+007F).</summary>
    public static bool IsControlCharacter(char c) => c is < ' ' or '\x7F';

    /// <summary>Why a topic or filter with a control character is refused, naming the first; null when it has none.</summary>
    internal static string? GetControlCharacterError(string text)
    {
        int index = text.AsSpan().IndexOfAny(s_controlCharacters);
        return index < 0 ? null : $"it contains the control character U+{(int)text[index]:X4} at position {index}";
    }

    /// <summary>Quotes a topic, filter or template for an error message, shortening very long ones.</summary>
    internal static string Quote(string? text)
    {
        const int MaxShown = 100;
        if (text is null)
        {
            return "(null)";
        }

        return text.Length <= MaxShown ? $"'{text}'" : $"'{text[..MaxShown]}...'";
    }
}
