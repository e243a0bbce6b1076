using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Mvc;

namespace Gateway.Routing.Tunnels;

/// <summary>
/// The head of an HTTP/1.1 <c>CONNECT</c> request (RFC 9110 section 9.3.6), as far as a tunnel needs it, and the
/// responses a tunnel writes itself: the request never reaches Kestrel's HTTP parser (<see cref="ConnectMiddleware"/>).
/// </summary>
/// <remarks>
/// <code>
/// CONNECT db.internal:5432 HTTP/1.1\r\n      request line: authority-form target
/// Host: db.internal:5432\r\n
/// Proxy-Authorization: Bearer KEY\r\n       or X-Api-Key: KEY
/// \r\n                                      end of head; tunnel bytes may follow at once
/// </code>
/// </remarks>
internal sealed record ConnectRequest(string Target, string? ApiKey)
{
    private static ReadOnlySpan<byte> EndOfHead => "\r\n\r\n"u8;

    /// <summary>
    /// Reads one request head from <paramref name="buffer"/>, slicing it off. False while the head is incomplete (the
    /// buffer is left whole); true with <paramref name="error"/> set when it is malformed.
    /// </summary>
    public static bool TryParse(ref ReadOnlySequence<byte> buffer, out ConnectRequest? request, out string? error)
    {
        request = null;
        error = null;
        var reader = new SequenceReader<byte>(buffer);
        if (!reader.TryReadTo(out ReadOnlySequence<byte> head, EndOfHead)) return false;
        buffer = buffer.Slice(reader.Position);

        // A head is small and bounded (the caller limits it): one string is simpler than parsing it in pieces.
        var lines = Encoding.Latin1.GetString(head).Split("\r\n");
        var requestLine = lines[0].Split(' ');
        if (requestLine is not ["CONNECT", { Length: > 0 } target, "HTTP/1.1" or "HTTP/1.0"])
        {
            error = $"The request line '{lines[0]}' is not 'CONNECT host:port HTTP/1.1'.";
            return true;
        }

        string? apiKey = null;
        foreach (var line in lines.AsSpan(1))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                error = $"The header line '{line}' has no name.";
                return true;
            }

            var name = line.AsSpan(0, colon);
            var value = line.AsSpan(colon + 1).Trim();
            if (name.Equals(ApiKeyHeader, StringComparison.OrdinalIgnoreCase) && value.Length > 0)
                apiKey = value.ToString();
            else if (name.Equals("Proxy-Authorization", StringComparison.OrdinalIgnoreCase) && value.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase))
                apiKey ??= value[Bearer.Length..].Trim().ToString();
        }

        request = new ConnectRequest(target, apiKey);
        return true;
    }

    /// <summary>The API key header, as on the HTTP API.</summary>
    public const string ApiKeyHeader = Http.HttpAccess.ApiKeyHeader;

    private const string Bearer = "Bearer ";

    /// <summary>Writes 200: from here on the connection carries the tunnel's bytes.</summary>
    public static ValueTask<FlushResult> WriteEstablishedAsync(PipeWriter output)
    {
        output.Write("HTTP/1.1 200 Connection Established\r\n\r\n"u8);
        return output.FlushAsync();
    }

    /// <summary>Writes a refusal as a problem-details response; the connection closes after it.</summary>
    public static ValueTask<FlushResult> WriteProblemAsync(PipeWriter output, int status, string title, string detail)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new ProblemDetails { Status = status, Title = title, Detail = detail });
        var head = new StringBuilder()
            .Append(CultureInfo.InvariantCulture, $"HTTP/1.1 {status} {title}\r\n")
            .Append("Content-Type: application/problem+json\r\n")
            .Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n")
            .Append("Connection: close\r\n");
        if (status == StatusCodes.Status407ProxyAuthenticationRequired) head.Append("Proxy-Authenticate: Bearer\r\n");
        head.Append("\r\n");
        output.Write(Encoding.ASCII.GetBytes(head.ToString()));
        output.Write(body);
        return output.FlushAsync();
    }
}
