using System.Buffers;
using System.Text.Json;
using Gateway.Messaging;

namespace Gateway.WebSockets;

/// <summary>
/// The JSON envelope subprotocol ("gateway.v1.json"): commands from the client, acknowledgements, errors
/// and deliveries from the gateway. Every frame is one JSON object with an "op":
/// <code>
/// client:  {"op":"subscribe","filter":"sensors/+/t","id":"1"}      {"op":"unsubscribe","filter":"sensors/+/t","id":"2"}
///          {"op":"publish","topic":"cmd/door","text":"open","contentType":"text/plain","id":"3"}   ("base64" instead of "text" for binary)
/// gateway: {"op":"ack","id":"1"}   {"op":"error","id":"1","code":"invalid","error":"..."}   ("forbidden" when permissions refuse it)
///          {"op":"message","id":42,"topic":"sensors/a/t","contentType":null,"timestamp":"...","text":"21.5"}
/// </code>
/// </summary>
internal static class EnvelopeProtocol
{
    public const string SubprotocolName = "gateway.v1.json";

    /// <summary>The "code" of an error about the command itself: unreadable, incomplete, unknown, or not subscribed.</summary>
    public const string InvalidCode = "invalid";

    /// <summary>The "code" of an error because the identity's permissions do not allow the command.</summary>
    public const string ForbiddenCode = "forbidden";

    /// <summary>One parsed client command.</summary>
    public readonly record struct Command(string Op, string? Id, string? Filter, string? Topic, byte[]? Payload, string? ContentType);

    /// <summary>Parses a client frame; on failure <paramref name="error"/> says what is wrong and <paramref name="id"/> is whatever id could be read.</summary>
    public static bool TryParse(ReadOnlySpan<byte> json, out Command command, out string? id, out string? error)
    {
        command = default;
        id = null;
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                error = "A command is a JSON object.";
                return false;
            }

            id = Optional(root, "id");
            var op = Optional(root, "op");
            byte[]? payload = null;
            if (root.TryGetProperty("text", out var text)) payload = System.Text.Encoding.UTF8.GetBytes(text.GetString() ?? "");
            else if (root.TryGetProperty("base64", out var base64)) payload = base64.GetBytesFromBase64();

            command = new Command(op ?? "", id, Optional(root, "filter"), Optional(root, "topic"), payload, Optional(root, "contentType"));
            error = op is null ? "The command has no \"op\"." : null;
            return op is not null;
        }
        catch (Exception ex) when (ex is JsonException or FormatException or InvalidOperationException)
        {
            error = "Not a valid JSON command: " + ex.Message;
            return false;
        }
    }

    public static void WriteAck(string? id, IBufferWriter<byte> output)
    {
        using var json = new Utf8JsonWriter(output, MessagePayload.JsonOptions);
        json.WriteStartObject();
        json.WriteString("op", "ack");
        json.WriteString("id", id);
        json.WriteEndObject();
    }

    public static void WriteError(string? id, string code, string error, IBufferWriter<byte> output)
    {
        using var json = new Utf8JsonWriter(output, MessagePayload.JsonOptions);
        json.WriteStartObject();
        json.WriteString("op", "error");
        json.WriteString("id", id);
        json.WriteString("code", code);
        json.WriteString("error", error);
        json.WriteEndObject();
    }

    public static void WriteMessage(Message message, IBufferWriter<byte> output)
    {
        using var json = new Utf8JsonWriter(output, MessagePayload.JsonOptions);
        json.WriteStartObject();
        json.WriteString("op", "message");
        MessagePayload.WriteJsonFields(json, message);
        json.WriteEndObject();
    }

    private static string? Optional(JsonElement root, string name) =>
        root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
