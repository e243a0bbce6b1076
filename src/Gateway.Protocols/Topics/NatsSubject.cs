using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Gateway.Protocols.Topics;

/// <summary>
/// Maps topics and topic filters to NATS subjects and back, so that a topic matches a filter exactly when its subject
/// matches one of the filter's subjects in NATS.
/// </summary>
/// <remarks>
/// <para>A topic's levels become the subject's tokens, after a prefix: <c>sensors/t1</c> is <c>gw.sensors.t1</c>. In
/// a filter, <c>+</c> becomes <c>*</c> and a final <c>#</c> becomes <c>&gt;</c>; since MQTT's <c>a/#</c> also matches
/// <c>a</c> and NATS's <c>a.&gt;</c> does not, such a filter has a second subject, its parent level alone.</para>
/// <para>Inside a level, what NATS gives a meaning to is escaped as <c>%</c> and two upper-case hex digits per UTF-8
/// byte: <c>.</c>, <c>*</c>, <c>&gt;</c>, <c>%</c> itself, spaces, and every character outside
/// ASCII, so a subject is plain ASCII whatever encoding a NATS client uses. <c>udp/127.0.0.1:5000</c> is
/// <c>gw.udp.127%2E0%2E0%2E1:5000</c>. An empty level, which NATS has no token for, is a lone <c>%</c>. Decoding
/// accepts only what encoding produces, so each subject stands for one topic.</para>
/// </remarks>
public static class NatsSubject
{
    /// <summary>
    /// The longest subject written. A NATS server closes the connection of a client whose protocol line exceeds its
    /// <c>max_control_line</c> (4,096 bytes by default), so a topic whose subject would be longer is refused here.
    /// </summary>
    public const int MaxLength = 4000;

    private const char Escape = '%';
    private const char Separator = '.';
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Whether <paramref name="prefix"/> can start subjects: one or more tokens of printable ASCII, without wildcards.</summary>
    public static bool IsValidPrefix(string? prefix)
    {
        if (string.IsNullOrEmpty(prefix)) return false;
        foreach (var token in prefix.Split(Separator))
        {
            if (token.Length == 0 || token is "*" or ">") return false;
            foreach (var c in token)
            {
                if (c is <= ' ' or >= '\x7f') return false;
            }
        }

        return true;
    }

    /// <summary>The subject of <paramref name="topic"/>; false when it would be longer than <see cref="MaxLength"/> or the topic is not valid Unicode.</summary>
    public static bool TryFromTopic(string prefix, string topic, [NotNullWhen(true)] out string? subject)
    {
        var builder = new StringBuilder(prefix.Length + topic.Length + 8).Append(prefix);
        subject = null;
        foreach (var level in topic.Split(Topic.LevelSeparator))
        {
            builder.Append(Separator);
            if (!TryAppendLevel(builder, level)) return false;
        }

        if (builder.Length > MaxLength) return false;
        subject = builder.ToString();
        return true;
    }

    /// <summary>
    /// The subjects a filter subscribes to: one, or two for a final <c>#</c> below the first level (<c>a/#</c> is
    /// <c>gw.a.&gt;</c> and <c>gw.a</c>). False when a subject would be longer than <see cref="MaxLength"/>.
    /// </summary>
    public static bool TryFromFilter(string prefix, TopicFilter filter, [NotNullWhen(true)] out string[]? subjects)
    {
        var builder = new StringBuilder(prefix.Length + filter.Value.Length + 8).Append(prefix);
        var parentLength = -1;
        subjects = null;
        foreach (var level in filter.Value.Split(Topic.LevelSeparator))
        {
            if (level == "#") parentLength = builder.Length;
            builder.Append(Separator);
            switch (level)
            {
                case "+": builder.Append('*'); break;
                case "#": builder.Append('>'); break;
                default:
                    if (!TryAppendLevel(builder, level)) return false;
                    break;
            }
        }

        if (builder.Length > MaxLength) return false;

        // "#" alone has no parent level: every topic has at least one level, which ">" requires.
        subjects = parentLength > prefix.Length ? [builder.ToString(), builder.ToString(0, parentLength)] : [builder.ToString()];
        return true;
    }

    /// <summary>The topic of <paramref name="subject"/>; false when it does not start with the prefix or is not an encoding this class writes.</summary>
    public static bool TryToTopic(string prefix, string subject, [NotNullWhen(true)] out string? topic)
    {
        topic = null;
        if (subject.Length <= prefix.Length + 1 || !subject.StartsWith(prefix, StringComparison.Ordinal) || subject[prefix.Length] != Separator)
            return false;

        var builder = new StringBuilder(subject.Length - prefix.Length);
        var tokens = subject.AsSpan(prefix.Length + 1);
        byte[]? bytes = null;
        while (true)
        {
            var end = tokens.IndexOf(Separator);
            var token = end < 0 ? tokens : tokens[..end];
            if (!TryAppendDecoded(builder, token, ref bytes)) return false;
            if (end < 0) break;
            builder.Append(Topic.LevelSeparator);
            tokens = tokens[(end + 1)..];
        }

        if (builder.Length > Topic.MaxLength) return false;
        topic = builder.ToString();
        return true;
    }

    /// <summary>
    /// Whether a character stands for itself in a token: printable ASCII other than what NATS or the escape give a
    /// meaning to. A topic's level never holds '/', '+' or '#', so a token holding one is no encoding of a level.
    /// </summary>
    private static bool IsPlain(char c) => c is > ' ' and < '\x7f' and not (Separator or '*' or '>' or Escape or '/' or '+' or '#');

    /// <summary>
    /// Whether an escaped byte is one the encoder escapes: a space, '.', '*', '>', '%', or part of a non-ASCII character.
    /// No topic holds a control character, so none is escaped.
    /// </summary>
    private static bool IsEscapedByte(byte b) => b >= 0x80 || (char)b is ' ' or Separator or '*' or '>' or Escape;

    private static bool TryAppendLevel(StringBuilder builder, string level)
    {
        if (level.Length == 0)
        {
            builder.Append(Escape);
            return true;
        }

        Span<byte> utf8 = stackalloc byte[4];
        for (var i = 0; i < level.Length; i++)
        {
            var c = level[i];
            if (IsPlain(c))
            {
                builder.Append(c);
                continue;
            }

            // One character, or a surrogate pair, as its UTF-8 bytes; a lone surrogate has none, and the topic no subject.
            var length = char.IsHighSurrogate(c) && i + 1 < level.Length && char.IsLowSurrogate(level[i + 1]) ? 2 : 1;
            if (Rune.DecodeFromUtf16(level.AsSpan(i, length), out var rune, out _) != OperationStatus.Done) return false;

            var written = rune.EncodeToUtf8(utf8);
            foreach (var b in utf8[..written])
                builder.Append(Escape).Append(HexDigit(b >> 4)).Append(HexDigit(b & 0xF));
            i += length - 1;
        }

        return true;
    }

    private static bool TryAppendDecoded(StringBuilder builder, ReadOnlySpan<char> token, ref byte[]? bytes)
    {
        if (token is "%") return true; // an empty level
        if (token.IsEmpty) return false;

        var plainUntil = token.IndexOf(Escape);
        if (plainUntil < 0) plainUntil = token.Length;
        foreach (var c in token[..plainUntil])
        {
            if (!IsPlain(c)) return false;
        }

        builder.Append(token[..plainUntil]);
        token = token[plainUntil..];
        while (!token.IsEmpty)
        {
            if (token[0] != Escape)
            {
                if (!IsPlain(token[0])) return false;
                builder.Append(token[0]);
                token = token[1..];
                continue;
            }

            // A run of escapes is one UTF-8 sequence or more; decode it whole, so multi-byte characters come back.
            if (bytes is null || bytes.Length < token.Length / 3) bytes = new byte[token.Length / 3];
            var count = 0;
            while (token.Length >= 3 && token[0] == Escape)
            {
                var high = HexValue(token[1]);
                var low = HexValue(token[2]);
                if (high < 0 || low < 0) return false;
                var b = (byte)(high << 4 | low);
                // Canonical only: a character that travels plain must not arrive escaped.
                if (!IsEscapedByte(b)) return false;
                bytes[count++] = b;
                token = token[3..];
            }

            if (!token.IsEmpty && token[0] == Escape) return false; // a '%' without two digits
            try
            {
                builder.Append(s_strictUtf8.GetString(bytes, 0, count));
            }
            catch (DecoderFallbackException)
            {
                return false;
            }
        }

        return true;
    }

    private static char HexDigit(int value) => (char)(value < 10 ? '0' + value : 'A' + value - 10);

    private static int HexValue(char c) => c switch
    {
        >= '0' and <= '9' => c - '0',
        >= 'A' and <= 'F' => c - 'A' + 10,
        _ => -1,
    };
}
