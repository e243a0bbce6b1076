namespace Gateway.Protocols.Topics;

/// <summary>An invalid topic, topic filter or topic template; the message says what is wrong with it.</summary>
public sealed class TopicException(string message) : Exception(message);
