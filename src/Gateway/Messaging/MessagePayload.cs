using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Gateway.Messaging;

/// <summary>How protocols that distinguish text from binary (WebSocket, server-sent events) treat a payload.</summary>
public static class MessagePayload
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Content type given to text received where the protocol marks it as text (a WebSocket text message).</summary>
    public const string TextContentType = "text/plain; charset=utf-8";

    /// <summary>Content type given to binary received where the protocol marks it as binary.</summary>
    public const string BinaryContentType = "application/octet-stream";

    /// <summary>
    /// True when the payload is valid UTF-8 and its content type is textual (text/*, JSON, XML, form data) or absent
    /// (framed TCP and UDP carry none, and are most often text).
    /// </summary>
    public static bool IsText(Message message)
    {
        var contentType = message.ContentType;
        var textual = contentType is null
            || contentType.StartsWith("text/", StringComparison.OrdinalIgnoreCase)
            || contentType.Contains("json", StringComparison.OrdinalIgnoreCase)
            || contentType.Contains("xml", StringComparison.OrdinalIgnoreCase)
            || contentType.StartsWith("application/x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase);
        if (!textual) return false;
        try
        {
            s_strictUtf8.GetCharCount(message.Payload.Span);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>
    /// Options for the JSON that carries messages (server-sent events, WebSocket envelopes): text keeps its non-ASCII
    /// characters as UTF-8 (学习TCP, not \u5B66\u4E60TCP; the encoder still escapes those beyond U+FFFF). The relaxed
    /// encoder does not escape HTML-sensitive characters (&lt;, &gt;, &amp;, '), which is safe here: this JSON goes to
    /// event streams and sockets and is never embedded in an HTML page; quotes, backslashes and control characters are
    /// escaped as always.
    /// </summary>
    public static readonly JsonWriterOptions JsonOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// Writes the message's fields into the JSON object being written: id, topic, contentType, timestamp,
    /// and the payload as "text" when <see cref="IsText"/>, else as "base64". Shared by the event streams
    /// and the WebSocket envelopes, so both describe a message the same way; their writers take <see cref="JsonOptions"/>.
    /// </summary>
    public static void WriteJsonFields(Utf8JsonWriter json, Message message)
    {
        json.WriteNumber("id", message.Id);
        json.WriteString("topic", message.Topic);
        json.WriteString("contentType", message.ContentType);
        json.WriteString("timestamp", message.Timestamp);
        if (IsText(message)) json.WriteString("text", message.Payload.Span);
        else json.WriteBase64String("base64", message.Payload.Span);
    }
}
