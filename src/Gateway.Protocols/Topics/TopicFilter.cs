using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace Gateway.Protocols.Topics;

/// <summary>
/// An MQTT-style topic filter: '+' matches exactly one level, '#' (last, alone in its level) matches the rest,
/// zero levels included, so "a/#" matches "a" and "a/b/c".
/// </summary>
public sealed class TopicFilter : IEquatable<TopicFilter>
{
    private TopicFilter(string value, bool isWildcard)
    {
        Value = value;
        IsWildcard = isWildcard;
    }

    /// <summary>The filter text.</summary>
    public string Value { get; }

    /// <summary>Whether the filter has a '+' or '#' level; without one it matches exactly one topic.</summary>
    public bool IsWildcard { get; }

    /// <summary>Parses a filter; throws <see cref="TopicException"/> saying what is wrong with an invalid one.</summary>
    public static TopicFilter Parse(string filter)
    {
        if (!TryParse(filter, out TopicFilter? result, out string? error))
        {
            throw new TopicException(error);
        }

        return result;
    }

    /// <summary>Parses a filter; on failure <paramref name="error"/> says what is wrong with it.</summary>
    public static bool TryParse(string? filter, [NotNullWhen(true)] out TopicFilter? result, [NotNullWhen(false)] out string? error)
    {
        string? reason = GetError(filter, out bool isWildcard);
        if (reason is not null)
        {
            result = null;
            error = $"Invalid topic filter {Topic.Quote(filter)}: {reason}.";
            return false;
        }

        result = new TopicFilter(filter!, isWildcard);
        error = null;
        return true;
    }

    /// <summary>Whether <paramref name="topic"/> matches this filter. Allocation-free.</summary>
    public bool Matches(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        return Matches(topic.AsSpan());
    }

    /// <summary>Whether <paramref name="topic"/> matches this filter. Allocation-free.</summary>
    public bool Matches(ReadOnlySpan<char> topic)
    {
        if (!IsWildcard)
        {
            return topic.SequenceEqual(Value);
        }

        // Walk the filter and the topic one level at a time.
        ReadOnlySpan<char> filter = Value;
        while (true)
        {
            ReadOnlySpan<char> filterLevel = FirstLevel(filter, out int filterSeparator);
            if (filterLevel is "#")
            {
                return true;
            }

            ReadOnlySpan<char> topicLevel = FirstLevel(topic, out int topicSeparator);
            if (filterLevel is not "+" && !filterLevel.SequenceEqual(topicLevel))
            {
                return false;
            }

            bool filterEnds = filterSeparator < 0;
            bool topicEnds = topicSeparator < 0;
            if (filterEnds || topicEnds)
            {
                // Both must end together, except that a final "/#" also matches its parent level ("a/#" matches "a").
                return filterEnds == topicEnds || (topicEnds && filter[(filterSeparator + 1)..] is "#");
            }

            filter = filter[(filterSeparator + 1)..];
            topic = topic[(topicSeparator + 1)..];
        }
    }

    /// <summary>
    /// Whether every topic <paramref name="narrower"/> matches also matches this filter: "a/#" includes "a/+/c" and
    /// "a", "a/+" includes "a/b" but not "a/#". Permissions use it to decide whether a subscription is allowed.
    /// </summary>
    public bool Includes(TopicFilter narrower)
    {
        ArgumentNullException.ThrowIfNull(narrower);
        ReadOnlySpan<char> mine = Value;
        ReadOnlySpan<char> theirs = narrower.Value;
        // A topic has at least one level, so a leading "+/#" matches every topic, as "#" does.
        if (mine is "+/#")
        {
            return true;
        }

        while (true)
        {
            ReadOnlySpan<char> mineLevel = FirstLevel(mine, out int mineSeparator);
            if (mineLevel is "#")
            {
                return true;
            }

            ReadOnlySpan<char> theirsLevel = FirstLevel(theirs, out int theirsSeparator);
            // Their '#' reaches any depth and their '+' any name; only the same wildcard (or '#') here covers it.
            bool covered = mineLevel is "+" ? theirsLevel is not "#" : theirsLevel is not ("#" or "+") && mineLevel.SequenceEqual(theirsLevel);
            if (!covered)
            {
                return false;
            }

            bool mineEnds = mineSeparator < 0;
            bool theirsEnds = theirsSeparator < 0;
            if (mineEnds || theirsEnds)
            {
                // A final "/#" of mine also covers its parent level, which is where theirs ended.
                return mineEnds ? theirsEnds : mine[(mineSeparator + 1)..] is "#";
            }

            mine = mine[(mineSeparator + 1)..];
            theirs = theirs[(theirsSeparator + 1)..];
        }
    }

    /// <summary>The first level of a topic or filter; <paramref name="separator"/> is the index of the '/' after it, or -1 for the last.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ReadOnlySpan<char> FirstLevel(ReadOnlySpan<char> text, out int separator)
    {
        separator = text.IndexOf(Topic.LevelSeparator);
        return separator < 0 ? text : text[..separator];
    }

    /// <inheritdoc/>
    public bool Equals(TopicFilter? other) => other is not null && string.Equals(Value, other.Value, StringComparison.Ordinal);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as TopicFilter);

    /// <inheritdoc/>
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(Value);

    /// <summary>The filter text.</summary>
    public override string ToString() => Value;

    /// <summary>Why <paramref name="filter"/> is invalid, as a clause without the filter itself; null when it is valid.</summary>
    internal static string? GetError(string? filter, out bool isWildcard)
    {
        isWildcard = false;
        if (string.IsNullOrEmpty(filter))
        {
            return "a topic filter must not be empty";
        }

        if (filter.Length > Topic.MaxLength)
        {
            return $"it is {filter.Length} characters long; the maximum is {Topic.MaxLength}";
        }

        if (Topic.GetControlCharacterError(filter) is { } control)
        {
            return control;
        }

        int levelStart = 0;
        while (true)
        {
            int separator = filter.IndexOf(Topic.LevelSeparator, levelStart);
            int levelEnd = separator < 0 ? filter.Length : separator;
            ReadOnlySpan<char> level = filter.AsSpan(levelStart, levelEnd - levelStart);

            int hash = level.IndexOf(Topic.MultiLevelWildcard);
            if (hash >= 0)
            {
                if (level.Length != 1)
                {
                    return $"'#' at position {levelStart + hash} must occupy a whole level";
                }

                if (separator >= 0)
                {
                    return $"'#' at position {levelStart} must be the last level";
                }

                isWildcard = true;
            }

            int plus = level.IndexOf(Topic.SingleLevelWildcard);
            if (plus >= 0)
            {
                if (level.Length != 1)
                {
                    return $"'+' at position {levelStart + plus} must occupy a whole level";
                }

                isWildcard = true;
            }

            if (separator < 0)
            {
                return null;
            }

            levelStart = separator + 1;
        }
    }
}
