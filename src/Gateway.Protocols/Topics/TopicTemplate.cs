using System.Diagnostics.CodeAnalysis;

namespace Gateway.Protocols.Topics;

/// <summary>What a <see cref="TopicTemplate"/> renders: a topic to publish on, or a filter to subscribe with.</summary>
public enum TemplateKind
{
    Topic,
    Filter,
}

/// <summary>The per-connection values a <see cref="TopicTemplate"/> fills in; <paramref name="ClientId"/> is null for an anonymous connection.</summary>
public readonly record struct TopicTemplateValues(string Endpoint, string ConnectionId, string Remote, string? ClientId);

/// <summary>
/// A topic or filter with per-connection placeholders: {endpoint}, {connectionId}, {remote} and {clientId} (case-sensitive),
/// for example "devices/{clientId}/up". Substituted values cannot add levels or wildcards. Braces cannot appear literally.
/// </summary>
public sealed class TopicTemplate
{
    /// <summary>Name of the {endpoint} placeholder: the endpoint's configured name.</summary>
    public const string EndpointPlaceholder = "endpoint";

    /// <summary>Name of the {connectionId} placeholder: the connection's id.</summary>
    public const string ConnectionIdPlaceholder = "connectionId";

    /// <summary>Name of the {remote} placeholder: the peer's address.</summary>
    public const string RemotePlaceholder = "remote";

    /// <summary>Name of the {clientId} placeholder: the authenticated client identity.</summary>
    public const string ClientIdPlaceholder = "clientId";

    // Rendered at parse time to check that the literal parts cannot make an invalid topic or filter whatever the values.
    private static readonly TopicTemplateValues s_sampleValues = new("endpoint", "connection", "remote", "client");

    private readonly Part[] _parts;

    private TopicTemplate(string template, TemplateKind kind, Part[] parts, string[] placeholders)
    {
        Template = template;
        Kind = kind;
        _parts = parts;
        Placeholders = placeholders;
    }

    private enum Placeholder
    {
        None,
        Endpoint,
        ConnectionId,
        Remote,
        ClientId,
    }

    /// <summary>The template text as configured.</summary>
    public string Template { get; }

    /// <summary>Whether the template renders a topic or a filter.</summary>
    public TemplateKind Kind { get; }

    /// <summary>The distinct placeholder names the template uses, without braces (for example "clientId"), in order of first use.</summary>
    public IReadOnlyCollection<string> Placeholders { get; }

    /// <summary>Whether the template has no placeholders, so every connection gets the same result.</summary>
    public bool IsConstant => Placeholders.Count == 0;

    /// <summary>Whether rendering needs a client identity (the template uses {clientId}).</summary>
    public bool RequiresClientId
    {
        get
        {
            foreach (Part part in _parts)
            {
                if (part.Placeholder == Placeholder.ClientId)
                {
                    return true;
                }
            }

            return false;
        }
    }

    /// <summary>Parses a template; throws <see cref="TopicException"/> naming the template and the problem.</summary>
    public static TopicTemplate Parse(string template, TemplateKind kind)
    {
        if (!TryParse(template, kind, out TopicTemplate? result, out string? error))
        {
            throw new TopicException(error);
        }

        return result;
    }

    /// <summary>Parses a template; on failure <paramref name="error"/> names the template and the problem.</summary>
    public static bool TryParse(string? template, TemplateKind kind, [NotNullWhen(true)] out TopicTemplate? result, [NotNullWhen(false)] out string? error)
    {
        result = null;
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown template kind.");
        }

        if (string.IsNullOrEmpty(template))
        {
            error = "Topic template is empty.";
            return false;
        }

        if (!TryParseParts(template, out Part[]? parts, out string[]? placeholders, out string? reason))
        {
            error = $"Topic template {Topic.Quote(template)} {reason}.";
            return false;
        }

        var candidate = new TopicTemplate(template, kind, parts, placeholders);
        string? sampleError = candidate.GetRenderedError(candidate.RenderUnchecked(s_sampleValues));
        if (sampleError is not null)
        {
            error = $"Topic template {Topic.Quote(template)} cannot render a valid {KindName(kind)}: {sampleError}.";
            return false;
        }

        result = candidate;
        error = null;
        return true;
    }

    /// <summary>
    /// Fills in the placeholders. '/', '+', '#' and control characters in the values become '_', so a value cannot add levels or wildcards.
    /// Throws <see cref="TopicException"/> when the template uses {clientId} and there is no client identity, or the result is invalid
    /// (for example too long).
    /// </summary>
    public string Render(in TopicTemplateValues values)
    {
        if (IsConstant)
        {
            return Template;
        }

        string rendered = RenderUnchecked(values);
        string? error = GetRenderedError(rendered);
        if (error is not null)
        {
            throw new TopicException($"Topic template {Topic.Quote(Template)} rendered an invalid {KindName(Kind)} {Topic.Quote(rendered)}: {error}.");
        }

        return rendered;
    }

    /// <summary>Renders the template (of either kind) as a topic filter to subscribe with.</summary>
    public TopicFilter RenderFilter(in TopicTemplateValues values)
    {
        string rendered = RenderUnchecked(values);
        if (!TopicFilter.TryParse(rendered, out TopicFilter? filter, out string? error))
        {
            throw new TopicException($"Topic template {Topic.Quote(Template)} rendered an invalid filter: {error}");
        }

        return filter;
    }

    /// <summary>The template text.</summary>
    public override string ToString() => Template;

    private string RenderUnchecked(in TopicTemplateValues values)
    {
        int length = 0;
        foreach (Part part in _parts)
        {
            length += part.Literal?.Length ?? GetValue(part.Placeholder, values).Length;
        }

        return string.Create(length, (_parts, values), static (destination, state) =>
        {
            foreach (Part part in state._parts)
            {
                if (part.Literal is not null)
                {
                    part.Literal.CopyTo(destination);
                    destination = destination[part.Literal.Length..];
                    continue;
                }

                // The length pass above already rejected missing values.
                string value = FindValue(part.Placeholder, state.values)!;
                CopySanitised(value, destination);
                destination = destination[value.Length..];
            }
        });
    }

    private string GetValue(Placeholder placeholder, in TopicTemplateValues values) =>
        FindValue(placeholder, values) ?? (placeholder == Placeholder.ClientId ? ThrowNoClientId() : ThrowMissingValue(placeholder));

    private static string? FindValue(Placeholder placeholder, in TopicTemplateValues values) => placeholder switch
    {
        Placeholder.Endpoint => values.Endpoint,
        Placeholder.ConnectionId => values.ConnectionId,
        Placeholder.Remote => values.Remote,
        _ => values.ClientId,
    };

    // Values come from peers (client ids, addresses): they must never add a level or a wildcard.
    private static void CopySanitised(string value, Span<char> destination)
    {
        for (int i = 0; i < value.Length; i++)
        {
            char c = value[i];
            destination[i] = c is Topic.LevelSeparator or Topic.SingleLevelWildcard or Topic.MultiLevelWildcard || Topic.IsControlCharacter(c) ? '_' : c;
        }
    }

    private string? GetRenderedError(string rendered) => Kind == TemplateKind.Topic
        ? Topic.GetError(rendered)
        : TopicFilter.GetError(rendered, out _);

    private static string KindName(TemplateKind kind) => kind == TemplateKind.Topic ? "topic" : "topic filter";

    [DoesNotReturn]
    private string ThrowNoClientId() =>
        throw new TopicException($"Topic template {Topic.Quote(Template)} uses {{clientId}}, but the connection has no client identity.");

    [DoesNotReturn]
    private string ThrowMissingValue(Placeholder placeholder) =>
        throw new TopicException($"Topic template {Topic.Quote(Template)} uses {{{NameOf(placeholder)}}}, but no value was given for it.");

    private static string NameOf(Placeholder placeholder) => placeholder switch
    {
        Placeholder.Endpoint => EndpointPlaceholder,
        Placeholder.ConnectionId => ConnectionIdPlaceholder,
        Placeholder.Remote => RemotePlaceholder,
        _ => ClientIdPlaceholder,
    };

    private static bool TryParseParts(
        string template,
        [NotNullWhen(true)] out Part[]? parts,
        [NotNullWhen(true)] out string[]? placeholders,
        [NotNullWhen(false)] out string? error)
    {
        var partList = new List<Part>();
        var names = new List<string>();
        parts = null;
        placeholders = null;

        int literalStart = 0;
        int i = 0;
        while (i < template.Length)
        {
            char c = template[i];
            if (c == '}')
            {
                error = $"has a '}}' without a matching '{{' at position {i}";
                return false;
            }

            if (c != '{')
            {
                i++;
                continue;
            }

            int close = template.IndexOfAny(['{', '}'], i + 1);
            if (close < 0 || template[close] == '{')
            {
                error = $"has an unclosed '{{' at position {i}";
                return false;
            }

            string name = template[(i + 1)..close];
            Placeholder placeholder = name switch
            {
                EndpointPlaceholder => Placeholder.Endpoint,
                ConnectionIdPlaceholder => Placeholder.ConnectionId,
                RemotePlaceholder => Placeholder.Remote,
                ClientIdPlaceholder => Placeholder.ClientId,
                _ => Placeholder.None,
            };
            if (placeholder == Placeholder.None)
            {
                error = $"has an unknown placeholder '{{{name}}}' at position {i}; the placeholders are {{endpoint}}, {{connectionId}}, {{remote}} " +
                    "and {clientId} (case-sensitive)";
                return false;
            }

            if (i > literalStart)
            {
                partList.Add(new Part(template[literalStart..i], Placeholder.None));
            }

            partList.Add(new Part(null, placeholder));
            if (!names.Contains(name))
            {
                names.Add(name);
            }

            i = close + 1;
            literalStart = i;
        }

        if (literalStart < template.Length)
        {
            partList.Add(new Part(template[literalStart..], Placeholder.None));
        }

        parts = partList.ToArray();
        placeholders = names.ToArray();
        error = null;
        return true;
    }

    /// <summary>Either literal text or one placeholder.</summary>
    private readonly record struct Part(string? Literal, Placeholder Placeholder);
}
