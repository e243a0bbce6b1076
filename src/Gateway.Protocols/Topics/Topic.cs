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

    private static readonly SearchValues<char> s_forbiddenInTopic = SearchValues.Create("+#\0");

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

        int index = topic.AsSpan().IndexOfAny(s_forbiddenInTopic);
        if (index >= 0)
        {
            return topic[index] == '\0'
                ? $"it contains a NUL character at position {index}"
                : $"it contains the wildcard '{topic[index]}' at position {index}; wildcards are allowed only in topic filters";
        }

        return null;
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
