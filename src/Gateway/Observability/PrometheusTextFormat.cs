using System.Buffers;
using System.Globalization;
using System.Text;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Gateway.Observability;

/// <summary>
/// Renders OpenTelemetry SDK metric points in the Prometheus text exposition format 0.0.4
/// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), naming them as the OpenTelemetry
/// specification's "Prometheus and OpenMetrics Compatibility" section asks
/// (https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/):
/// <code>
/// # HELP gateway_io_bytes_total Bytes received and sent: ...
/// # TYPE gateway_io_bytes_total counter
/// gateway_io_bytes_total{otel_scope_name="Gateway",gateway_endpoint="echo",gateway_protocol="tcp",network_io_direction="receive"} 42
/// # TYPE kestrel_connection_duration_seconds histogram
/// kestrel_connection_duration_seconds_bucket{otel_scope_name="Microsoft.AspNetCore.Server.Kestrel",le="0.01"} 3
/// kestrel_connection_duration_seconds_bucket{otel_scope_name="Microsoft.AspNetCore.Server.Kestrel",le="+Inf"} 4
/// kestrel_connection_duration_seconds_sum{otel_scope_name="Microsoft.AspNetCore.Server.Kestrel"} 12.5
/// kestrel_connection_duration_seconds_count{otel_scope_name="Microsoft.AspNetCore.Server.Kestrel"} 4
/// </code>
/// Prometheus rejects a whole scrape over one malformed line, so everything taken from instruments and tags is
/// sanitized or escaped here rather than trusted.
/// </summary>
internal static class PrometheusTextFormat
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    // OpenTelemetry identifies a metric by its meter as well as its name; Prometheus only by name and labels. The scope
    // label keeps, say, Kestrel's and the gateway's series of one family apart.
    private const string ScopeLabel = "otel_scope_name";
    private const string BucketLabel = "le";

    private static readonly SearchValues<char> s_labelValueEscapes = SearchValues.Create("\\\"\n");
    private static readonly SearchValues<char> s_helpEscapes = SearchValues.Create("\\\n");

    public static void Write(in Batch<Metric> metrics, IBufferWriter<byte> output)
    {
        // Prometheus wants every line of a family in one group, but two meters may each bring a metric of the same
        // name, and the batch does not keep them together.
        var families = new List<Family>();
        var byName = new Dictionary<string, Family>(StringComparer.Ordinal);
        foreach (var metric in metrics)
        {
            if (TypeOf(metric.MetricType) is not { } type)
                continue;

            var name = FamilyName(metric, type);
            if (!byName.TryGetValue(name, out var family))
            {
                family = new Family(name, type);
                byName.Add(name, family);
                families.Add(family);
            }

            // One family has one TYPE: a metric that would change it is left out rather than break the scrape.
            if (family.Type == type)
                family.Metrics.Add(metric);
        }

        foreach (var family in families)
            WriteFamily(family, output);
    }

    private static PrometheusType? TypeOf(MetricType type) => type switch
    {
        MetricType.LongSum or MetricType.DoubleSum => PrometheusType.Counter,
        MetricType.LongSumNonMonotonic or MetricType.DoubleSumNonMonotonic => PrometheusType.Gauge,
        MetricType.LongGauge or MetricType.DoubleGauge => PrometheusType.Gauge,
        MetricType.Histogram => PrometheusType.Histogram,

        // The text format has no native (sparse) histograms; only the protobuf exposition carries them. The
        // exporter's reader never asks for exponential aggregation, so one appears only where a view opts in.
        _ => null,
    };

    private static void WriteFamily(Family family, IBufferWriter<byte> output)
    {
        var help = family.Metrics.Find(metric => !string.IsNullOrEmpty(metric.Description))?.Description;
        if (help is not null)
        {
            WriteAscii("# HELP "u8, output);
            WriteAscii(family.NameUtf8, output);
            WriteAscii(" "u8, output);
            WriteEscaped(help, s_helpEscapes, output);
            WriteAscii("\n"u8, output);
        }

        WriteAscii("# TYPE "u8, output);
        WriteAscii(family.NameUtf8, output);
        WriteAscii(family.Type switch
        {
            PrometheusType.Counter => " counter\n"u8,
            PrometheusType.Gauge => " gauge\n"u8,
            _ => " histogram\n"u8,
        }, output);

        foreach (var metric in family.Metrics)
        {
            foreach (ref readonly var point in metric.GetMetricPoints())
            {
                if (metric.MetricType == MetricType.Histogram)
                {
                    WriteHistogram(family.NameUtf8, metric, in point, output);
                    continue;
                }

                WriteSample(family.NameUtf8, [], metric, point.Tags, isHistogram: false, output);
                switch (metric.MetricType)
                {
                    case MetricType.LongSum or MetricType.LongSumNonMonotonic:
                        WriteLong(point.GetSumLong(), output);
                        break;
                    case MetricType.DoubleSum or MetricType.DoubleSumNonMonotonic:
                        WriteDouble(point.GetSumDouble(), output);
                        break;
                    case MetricType.LongGauge:
                        WriteLong(point.GetGaugeLastValueLong(), output);
                        break;
                    default:
                        WriteDouble(point.GetGaugeLastValueDouble(), output);
                        break;
                }

                WriteAscii("\n"u8, output);
            }
        }
    }

    private static void WriteHistogram(byte[] name, Metric scope, in MetricPoint point, IBufferWriter<byte> output)
    {
        // OpenTelemetry counts each bucket on its own; Prometheus buckets count everything up to their bound.
        long cumulative = 0;
        var wroteInfinity = false;
        foreach (var bucket in point.GetHistogramBuckets())
        {
            cumulative += bucket.BucketCount;
            WriteBucket(name, scope, point.Tags, bucket.ExplicitBound, cumulative, output);
            wroteInfinity = double.IsPositiveInfinity(bucket.ExplicitBound);
        }

        // A histogram configured without bounds has no buckets at all, yet Prometheus requires the +Inf one.
        if (!wroteInfinity)
            WriteBucket(name, scope, point.Tags, double.PositiveInfinity, point.GetHistogramCount(), output);

        WriteSample(name, "_sum"u8, scope, point.Tags, isHistogram: true, output);
        WriteDouble(point.GetHistogramSum(), output);
        WriteAscii("\n"u8, output);
        WriteSample(name, "_count"u8, scope, point.Tags, isHistogram: true, output);
        WriteLong(point.GetHistogramCount(), output);
        WriteAscii("\n"u8, output);
    }

    private static void WriteBucket(byte[] name, Metric scope, ReadOnlyTagCollection tags, double bound, long count, IBufferWriter<byte> output)
    {
        WriteAscii(name, output);
        WriteAscii("_bucket"u8, output);
        WriteLabels(scope, tags, isHistogram: true, output);
        WriteAscii(",le=\""u8, output);
        WriteDouble(bound, output);
        WriteAscii("\"} "u8, output);
        WriteLong(count, output);
        WriteAscii("\n"u8, output);
    }

    /// <summary>Writes <c>name_suffix{labels} </c>; the caller writes the value and the line's end.</summary>
    private static void WriteSample(byte[] name, ReadOnlySpan<byte> suffix, Metric scope, ReadOnlyTagCollection tags, bool isHistogram, IBufferWriter<byte> output)
    {
        WriteAscii(name, output);
        WriteAscii(suffix, output);
        WriteLabels(scope, tags, isHistogram, output);
        WriteAscii("} "u8, output);
    }

    /// <summary>
    /// Writes <c>{otel_scope_name="...",key="value",...</c>, leaving the brace open for a bucket's <c>le</c>: the
    /// scope's name, then its meter's tags (a meter made per endpoint carries the endpoint there, so its instruments
    /// record without per-measurement tags), then the point's own.
    /// </summary>
    private static void WriteLabels(Metric scope, ReadOnlyTagCollection tags, bool isHistogram, IBufferWriter<byte> output)
    {
        WriteAscii("{otel_scope_name=\""u8, output);
        WriteEscaped(scope.MeterName, s_labelValueEscapes, output);
        WriteAscii("\""u8, output);
        foreach (var tag in scope.MeterTags ?? [])
        {
            if (tag.Key.Length == 0 || SanitizedName.Equal(tag.Key, ScopeLabel, allowColon: false)) continue;
            WriteLabelOpen(tag, output);
            WriteAscii("\""u8, output);
        }

        var index = 0;
        foreach (var tag in tags)
        {
            if (!IsFirstOfItsLabel(tag.Key, index, tags, isHistogram))
            {
                index++;
                continue;
            }

            WriteLabelOpen(tag, output);

            // Keys that differ only in characters Prometheus cannot take end up as one label, and a label may appear
            // once per sample: the specification joins their values with ';', in the (sorted) order of the keys.
            var later = 0;
            foreach (var other in tags)
            {
                if (later++ > index && SanitizedName.Equal(tag.Key, other.Key, allowColon: false))
                {
                    WriteAscii(";"u8, output);
                    WriteTagValue(other.Value, output);
                }
            }

            WriteAscii("\""u8, output);
            index++;
        }
    }

    /// <summary>Writes <c>,key="value</c>: the label's name sanitized, its value escaped, the closing quote left to the caller.</summary>
    private static void WriteLabelOpen(KeyValuePair<string, object?> tag, IBufferWriter<byte> output)
    {
        WriteAscii(","u8, output);
        var key = new SanitizedName(tag.Key, allowColon: false);
        while (key.MoveNext())
            WriteAscii(key.Current, output);
        WriteAscii("=\""u8, output);
        WriteTagValue(tag.Value, output);
    }

    /// <summary>
    /// False when the tag's label is written by an earlier tag, is one this format writes itself (the scope, and a
    /// histogram's bound: Prometheus reads <c>le</c> as a bound on every line of a histogram), or has no name at all.
    /// </summary>
    private static bool IsFirstOfItsLabel(string key, int index, ReadOnlyTagCollection tags, bool isHistogram)
    {
        if (key.Length == 0 || SanitizedName.Equal(key, ScopeLabel, allowColon: false)
            || (isHistogram && SanitizedName.Equal(key, BucketLabel, allowColon: false)))
            return false;

        var earlier = 0;
        foreach (var other in tags)
        {
            if (earlier++ == index)
                return true;
            if (SanitizedName.Equal(key, other.Key, allowColon: false))
                return false;
        }

        return true;
    }

    private static void WriteTagValue(object? value, IBufferWriter<byte> output)
    {
        switch (value)
        {
            case null:
                break;
            case string text:
                WriteEscaped(text, s_labelValueEscapes, output);
                break;
            case bool flag:
                WriteAscii(flag ? "true"u8 : "false"u8, output);
                break;
            case double number:
                WriteDouble(number, output);
                break;
            case Array array:
                var first = true;
                foreach (var item in array)
                {
                    if (!first)
                        WriteAscii(","u8, output);
                    WriteTagValue(item, output);
                    first = false;
                }

                break;
            case ISpanFormattable formattable:
                Span<char> buffer = stackalloc char[64];
                if (formattable.TryFormat(buffer, out var written, default, CultureInfo.InvariantCulture))
                    WriteEscaped(buffer[..written], s_labelValueEscapes, output);
                else
                    WriteEscaped(formattable.ToString(null, CultureInfo.InvariantCulture), s_labelValueEscapes, output);
                break;
            default:
                WriteEscaped(Convert.ToString(value, CultureInfo.InvariantCulture), s_labelValueEscapes, output);
                break;
        }
    }

    private static string FamilyName(Metric metric, PrometheusType type)
    {
        var name = SanitizedName.ToString(metric.Name, allowColon: true);

        // The unit goes before the type's suffix, and neither is added twice.
        var unit = UnitSuffix(metric.Unit, metric.MetricType);
        if (unit.Length > 0 && !EndsWithWord(name, unit))
            name = $"{name}_{unit}";
        if (type == PrometheusType.Counter && !EndsWithWord(name, "total"))
            name += "_total";

        return name;
    }

    private static bool EndsWithWord(string name, string word) =>
        name.EndsWith(word, StringComparison.Ordinal) && (name.Length == word.Length || name[^(word.Length + 1)] == '_');

    /// <summary>The UCUM unit in Prometheus' words: <c>By</c> is <c>bytes</c>, <c>By/s</c> is <c>bytes_per_second</c>, <c>{message}</c> is nothing.</summary>
    private static string UnitSuffix(string? unit, MetricType type)
    {
        if (string.IsNullOrEmpty(unit))
            return "";

        // A ratio is what a gauge of unit 1 holds (a fill level, a hit rate); a sum of unit 1 just counts.
        if (unit == "1")
            return type is MetricType.LongGauge or MetricType.DoubleGauge ? "ratio" : "";

        // Annotations in braces name what is counted, which Prometheus leaves to the metric's name.
        var plain = unit;
        for (var open = plain.IndexOf('{'); open >= 0; open = plain.IndexOf('{'))
        {
            var close = plain.IndexOf('}', open);
            plain = close < 0 ? plain[..open] : string.Concat(plain.AsSpan(0, open), plain.AsSpan(close + 1));
        }

        // "By/s" is bytes_per_second, "{request}/s" per_second; "By/{message}" is bytes, the annotation gone.
        var slash = plain.IndexOf('/');
        var words = UnitWord(slash < 0 ? plain : plain[..slash]);
        if (slash >= 0 && slash < plain.Length - 1)
            words = words.Length == 0 ? $"per_{PerUnitWord(plain[(slash + 1)..])}" : $"{words}_per_{PerUnitWord(plain[(slash + 1)..])}";
        return SanitizedName.ToString(words, allowColon: false).Trim('_');
    }

    private static string UnitWord(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tebibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "",
        _ => unit,
    };

    private static string PerUnitWord(string unit) => unit switch
    {
        "s" => "second",
        "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => unit,
    };

    private static void WriteDouble(double value, IBufferWriter<byte> output)
    {
        if (double.IsFinite(value))
        {
            // "R" is the shortest text that parses back to the same double; 32 bytes hold the longest, -1.7976931348623157E+308.
            var span = output.GetSpan(32);
            value.TryFormat(span, out var written, "R", CultureInfo.InvariantCulture);
            output.Advance(written);
        }
        else
        {
            WriteAscii(double.IsNaN(value) ? "NaN"u8 : value > 0 ? "+Inf"u8 : "-Inf"u8, output);
        }
    }

    private static void WriteLong(long value, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(20);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        output.Advance(written);
    }

    private static void WriteEscaped(ReadOnlySpan<char> text, SearchValues<char> escapes, IBufferWriter<byte> output)
    {
        // The escaped characters are ASCII, so cutting the text at them never splits a surrogate pair.
        for (var at = text.IndexOfAny(escapes); at >= 0; at = text.IndexOfAny(escapes))
        {
            Encoding.UTF8.GetBytes(text[..at], output);
            WriteAscii(text[at] switch { '\\' => "\\\\"u8, '"' => "\\\""u8, _ => "\\n"u8 }, output);
            text = text[(at + 1)..];
        }

        Encoding.UTF8.GetBytes(text, output);
    }

    private static void WriteAscii(ReadOnlySpan<byte> text, IBufferWriter<byte> output) => output.Write(text);

    private static void WriteAscii(char c, IBufferWriter<byte> output)
    {
        output.GetSpan(1)[0] = (byte)c;
        output.Advance(1);
    }

    private enum PrometheusType
    {
        Counter,
        Gauge,
        Histogram,
    }

    /// <summary>The metrics, from any meter, that share one Prometheus name.</summary>
    private sealed class Family(string name, PrometheusType type)
    {
        public byte[] NameUtf8 { get; } = Encoding.ASCII.GetBytes(name);

        public PrometheusType Type { get; } = type;

        public List<Metric> Metrics { get; } = [];
    }

    /// <summary>
    /// A name as Prometheus accepts it, one character at a time: anything outside [a-zA-Z0-9_] (and ':' in metric
    /// names) becomes '_', runs of '_' become one, and a leading digit gets a '_' before it. Collapsing the runs also
    /// keeps label names clear of the '__' prefix Prometheus reserves.
    /// </summary>
    private ref struct SanitizedName
    {
        private readonly ReadOnlySpan<char> _text;
        private readonly bool _allowColon;
        private int _next;
        private bool _lastWasUnderscore;
        private bool _prefixed;

        public SanitizedName(ReadOnlySpan<char> text, bool allowColon)
        {
            _text = text;
            _allowColon = allowColon;
        }

        public char Current { get; private set; }

        public bool MoveNext()
        {
            if (_next == 0 && !_prefixed && _text.Length > 0 && char.IsAsciiDigit(_text[0]))
            {
                _prefixed = true;
                _lastWasUnderscore = true;
                Current = '_';
                return true;
            }

            while (_next < _text.Length)
            {
                var c = _text[_next++];
                if (!char.IsAsciiLetterOrDigit(c) && !(c == ':' && _allowColon))
                    c = '_';
                if (c == '_' && _lastWasUnderscore)
                    continue;

                _lastWasUnderscore = c == '_';
                Current = c;
                return true;
            }

            return false;
        }

        public static string ToString(string text, bool allowColon)
        {
            var builder = new StringBuilder(text.Length + 1);
            var name = new SanitizedName(text, allowColon);
            while (name.MoveNext())
                builder.Append(name.Current);
            return builder.ToString();
        }

        public static bool Equal(string left, string right, bool allowColon)
        {
            var a = new SanitizedName(left, allowColon);
            var b = new SanitizedName(right, allowColon);
            while (true)
            {
                var moreA = a.MoveNext();
                if (moreA != b.MoveNext())
                    return false;
                if (!moreA)
                    return true;
                if (a.Current != b.Current)
                    return false;
            }
        }
    }
}
