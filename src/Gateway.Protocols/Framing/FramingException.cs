namespace Gateway.Protocols.Framing;

/// <summary>Malformed or oversized input on a framed stream. The message names what was wrong and, where one applies, the option to change.</summary>
public sealed class FramingException(string message) : Exception(message);
