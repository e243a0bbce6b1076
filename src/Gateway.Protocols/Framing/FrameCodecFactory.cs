namespace Gateway.Protocols.Framing;

/// <summary>Validates <see cref="FramingOptions"/> and builds the matching <see cref="IFrameCodec"/>.</summary>
public static class FrameCodecFactory
{
    /// <summary>Builds the codec the options describe. Throws <see cref="ArgumentException"/> listing every problem when they are invalid.</summary>
    public static IFrameCodec Create(FramingOptions options)
    {
        IReadOnlyList<string> errors = Validate(options);
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join("; ", errors), nameof(options));
        }

        return options.Kind switch
        {
            FramingKind.LengthField => new LengthFieldCodec(
                options.MaxFrameSize,
                options.LengthFieldOffset,
                options.LengthFieldSize,
                options.ByteOrder,
                options.LengthAdjustment,
                options.InitialBytesToStrip),
            FramingKind.Delimiter => new DelimiterCodec(options.MaxFrameSize, ParseValidatedDelimiter(options), options.StripDelimiter),
            FramingKind.Line => new LineCodec(options.MaxFrameSize, options.StripDelimiter, options.WriteCrLf),
            _ => new FixedLengthCodec(options.MaxFrameSize, options.FrameLength, options.PadByte),
        };
    }

    /// <summary>
    /// Every problem with <paramref name="options"/>, each naming its setting (for example
    /// "Framing:LengthFieldSize must be 1, 2, 4 or 8 (was 3)"); empty when they are valid.
    /// </summary>
    public static IReadOnlyList<string> Validate(FramingOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);

        // Collect everything rather than stop at the first problem, so one start-up shows the whole list.
        var errors = new List<string>();
        if (options.MaxFrameSize <= 0)
        {
            errors.Add($"Framing:MaxFrameSize must be greater than 0 (was {options.MaxFrameSize})");
        }

        switch (options.Kind)
        {
            case FramingKind.LengthField:
                ValidateLengthField(options, errors);
                break;
            case FramingKind.Delimiter:
                ValidateDelimiter(options, errors);
                break;
            case FramingKind.Line:
                break;
            case FramingKind.FixedLength:
                ValidateFixedLength(options, errors);
                break;
            default:
                errors.Add($"Framing:Kind must be LengthField, Delimiter, Line or FixedLength (was {(int)options.Kind})");
                break;
        }

        return errors;
    }

    private static void ValidateLengthField(FramingOptions options, List<string> errors)
    {
        int errorCount = errors.Count;
        if (options.LengthFieldOffset is < 0 or > FramingOptions.MaxHeaderLength)
        {
            errors.Add($"Framing:LengthFieldOffset must be between 0 and {FramingOptions.MaxHeaderLength} (was {options.LengthFieldOffset})");
        }

        if (options.LengthFieldSize is not (1 or 2 or 4 or 8))
        {
            errors.Add($"Framing:LengthFieldSize must be 1, 2, 4 or 8 (was {options.LengthFieldSize})");
        }

        if (!Enum.IsDefined(options.ByteOrder))
        {
            errors.Add($"Framing:ByteOrder must be BigEndian or LittleEndian (was {(int)options.ByteOrder})");
        }

        if (options.InitialBytesToStrip is < 0 or > FramingOptions.MaxHeaderLength)
        {
            errors.Add($"Framing:InitialBytesToStrip must be between 0 and {FramingOptions.MaxHeaderLength} (was {options.InitialBytesToStrip})");
        }

        if (errors.Count > errorCount)
        {
            return;
        }

        // A payload that keeps part of the header must be able to hold it, or no frame could ever be read or written.
        int lengthFieldEndOffset = options.LengthFieldOffset + options.LengthFieldSize;
        int keptHeaderBytes = lengthFieldEndOffset - (options.InitialBytesToStrip ?? lengthFieldEndOffset);
        if (options.MaxFrameSize > 0 && keptHeaderBytes > options.MaxFrameSize)
        {
            errors.Add(
                $"Framing:MaxFrameSize ({options.MaxFrameSize}) is smaller than the {keptHeaderBytes} header bytes every payload keeps " +
                "(LengthFieldOffset + LengthFieldSize - InitialBytesToStrip)");
        }
    }

    private static void ValidateDelimiter(FramingOptions options, List<string> errors)
    {
        if (!DelimiterParser.TryParse(options, out byte[]? delimiter, out string? error))
        {
            errors.Add(error);
            return;
        }

        if (!options.StripDelimiter && options.MaxFrameSize > 0 && delimiter.Length > options.MaxFrameSize)
        {
            errors.Add(
                $"Framing:MaxFrameSize ({options.MaxFrameSize}) is smaller than the {delimiter.Length}-byte delimiter every payload keeps " +
                "when Framing:StripDelimiter is false");
        }
    }

    private static void ValidateFixedLength(FramingOptions options, List<string> errors)
    {
        if (options.FrameLength <= 0)
        {
            errors.Add($"Framing:FrameLength must be greater than 0 when Framing:Kind is FixedLength (was {options.FrameLength})");
        }
        else if (options.MaxFrameSize > 0 && options.FrameLength > options.MaxFrameSize)
        {
            errors.Add($"Framing:FrameLength ({options.FrameLength}) must not exceed Framing:MaxFrameSize ({options.MaxFrameSize})");
        }
    }

    private static byte[] ParseValidatedDelimiter(FramingOptions options) =>
        DelimiterParser.TryParse(options, out byte[]? delimiter, out string? error)
            ? delimiter
            : throw new ArgumentException(error, nameof(options));
}
