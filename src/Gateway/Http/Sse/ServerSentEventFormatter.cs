using System.Buffers;
using System.Text;
using System.Text.Json;
using Gateway.Messaging;

namespace Gateway.Http.Sse;

/// <summary>
/// Writes one message as a server-sent event (https://html.spec.whatwg.org/multipage/server-sent-events.html):
/// <code>
/// id: 42
/// data: {"topic":"sensors/t1","contentType":"text/plain","timestamp":"...","text":"21.5"}
///
/// </code>
/// The data is one line of JSON: the topic travels with the payload (streams may use wildcards), and a
/// payload that is not text is sent as "base64" instead of "text".
/// </summary>
internal static class ServerSentEventFormatter
{
    public static void Write(Message message, IBufferWriter<byte> output)
    {
        WriteAscii("id: ", output);
        WriteAscii(message.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), output);
        WriteAscii("\ndata: ", output);

        using (var json = new Utf8JsonWriter(output, MessagePayload.JsonOptions))
        {
            json.WriteStartObject();
            MessagePayload.WriteJsonFields(json, message);
            json.WriteEndObject();
        }

        WriteAscii("\n\n", output);
    }

    /// <summary>A comment line: keeps proxies from closing an idle stream, and is ignored by clients.</summary>
    public static void WriteKeepAlive(IBufferWriter<byte> output) => WriteAscii(": keep-alive\n\n", output);

    private static void WriteAscii(string text, IBufferWriter<byte> output)
    {
        var span = output.GetSpan(text.Length);
        var written = Encoding.ASCII.GetBytes(text, span);
        output.Advance(written);
    }
}
