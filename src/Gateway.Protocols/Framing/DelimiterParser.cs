using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace Gateway.Protocols.Framing;

/// <summary>Turns the configured <see cref="FramingOptions.Delimiter"/> or <see cref="FramingOptions.DelimiterHex"/> into bytes.</summary>
internal static class DelimiterParser
{
    /// <summary>Parses whichever of the two delimiter settings is set; the error names the setting.</summary>
    public static bool TryParse(FramingOptions options, [NotNullWhen(true)] out byte[]? delimiter, [NotNullWhen(false)] out string? error)
    {
        bool hasText = !string.IsNullOrEmpty(options.Delimiter);
        bool hasHex = !string.IsNullOrWhiteSpace(options.DelimiterHex);
        delimiter = null;
        if (hasText && hasHex)
        {
            error = "Framing:Delimiter and Framing:DelimiterHex are both set; set only one of them";
            return false;
        }

        if (!hasText && !hasHex)
        {
            error = "Framing:Delimiter or Framing:DelimiterHex is required when Framing:Kind is Delimiter";
            return false;
        }

        return hasText
            ? TryParseText(options.Delimiter!, out delimiter, out error)
            : TryParseHex(options.DelimiterHex!, out delimiter, out error);
    }

    /// <summary>Text with the escapes \r \n \t \0 \\ and \xHH; other characters are taken as UTF-8.</summary>
    public static bool TryParseText(string text, [NotNullWhen(true)] out byte[]? delimiter, [NotNullWhen(false)] out string? error)
    {
        var bytes = new List<byte>(text.Length);
        Span<byte> utf8 = stackalloc byte[4];
        int i = 0;
        while (i < text.Length)
        {
            if (text[i] != '\\')
            {
                if (Rune.DecodeFromUtf16(text.AsSpan(i), out Rune rune, out int consumed) != OperationStatus.Done)
                {
                    return Fail($"Framing:Delimiter has an unpaired surrogate at position {i}", out delimiter, out error);
                }

                int written = rune.EncodeToUtf8(utf8);
                for (int b = 0; b < written; b++)
                {
                    bytes.Add(utf8[b]);
                }

                i += consumed;
                continue;
            }

            if (i + 1 >= text.Length)
            {
                return Fail(@"Framing:Delimiter ends with a lone '\'; write '\\' for a backslash", out delimiter, out error);
            }

            switch (text[i + 1])
            {
                case 'r': bytes.Add((byte)'\r'); i += 2; break;
                case 'n': bytes.Add((byte)'\n'); i += 2; break;
                case 't': bytes.Add((byte)'\t'); i += 2; break;
                case '0': bytes.Add(0); i += 2; break;
                case '\\': bytes.Add((byte)'\\'); i += 2; break;
                case 'x' when i + 4 <= text.Length
                    && byte.TryParse(text.AsSpan(i + 2, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out byte value):
                    bytes.Add(value);
                    i += 4;
                    break;
                case 'x':
                    return Fail($@"Framing:Delimiter has '\x' at position {i} without two hexadecimal digits after it", out delimiter, out error);
                default:
                    return Fail(
                        $@"Framing:Delimiter has an unknown escape '\{text[i + 1]}' at position {i}; use \r \n \t \0 \\ or \xHH",
                        out delimiter, out error);
            }
        }

        delimiter = bytes.ToArray();
        error = null;
        return true;
    }

    /// <summary>Hexadecimal digits, two per byte, spaces allowed between them: "0D0A" or "0D 0A".</summary>
    public static bool TryParseHex(string hex, [NotNullWhen(true)] out byte[]? delimiter, [NotNullWhen(false)] out string? error)
    {
        string digits = hex.Replace(" ", "", StringComparison.Ordinal);
        if (digits.Length == 0 || digits.Length % 2 != 0)
        {
            return Fail($"Framing:DelimiterHex must be an even number of hexadecimal digits, for example \"0D0A\" (was \"{hex}\")", out delimiter, out error);
        }

        var bytes = new byte[digits.Length / 2];
        if (Convert.FromHexString(digits, bytes, out _, out int written) != OperationStatus.Done || written != bytes.Length)
        {
            return Fail($"Framing:DelimiterHex must contain only hexadecimal digits, for example \"0D0A\" (was \"{hex}\")", out delimiter, out error);
        }

        delimiter = bytes;
        error = null;
        return true;
    }

    private static bool Fail(string message, out byte[]? delimiter, out string error)
    {
        delimiter = null;
        error = message;
        return false;
    }
}
