using System.Buffers;
using System.Net.WebSockets;
using Gateway.Connections;
using Gateway.Messaging;
using Gateway.Protocols.Topics;

namespace Gateway.WebSockets;

/// <summary>
/// The inbound adapter of envelope mode: runs the client's commands (<see cref="EnvelopeProtocol"/>) against its session,
/// subscribing, unsubscribing and publishing within its permissions, and answers each with an ack or an error.
/// </summary>
internal sealed class EnvelopeCommands(ConnectionSession session, IMessageBus bus, FrameworkSender sender)
{
    public Task HandleAsync(WebSocketMessageType type, ReadOnlyMemory<byte> payload)
    {
        if (type != WebSocketMessageType.Text)
            return SendErrorAsync(null, "Envelope commands are JSON text messages.");
        if (!EnvelopeProtocol.TryParse(payload.Span, out var command, out var id, out var error))
            return SendErrorAsync(id, error!);

        switch (command.Op)
        {
            case "subscribe":
                if (!TopicFilter.TryParse(command.Filter, out var filter, out var filterError))
                    return SendErrorAsync(id, filterError);
                if (!session.Access.MaySubscribe(filter))
                    return SendErrorAsync(id, $"{session.IdentityName} may not subscribe to '{filter}'.", EnvelopeProtocol.ForbiddenCode);
                session.Subscribe(filter);
                return SendAckAsync(id);
            case "unsubscribe":
                if (command.Filter is null || !session.Unsubscribe(command.Filter))
                    return SendErrorAsync(id, $"Not subscribed to '{command.Filter}'.");
                return SendAckAsync(id);
            case "publish":
                if (command.Topic is null)
                    return SendErrorAsync(id, "A publish needs a \"topic\".");
                if (!Topic.IsValid(command.Topic, out var topicError))
                    return SendErrorAsync(id, topicError);
                if (command.Payload is null)
                    return SendErrorAsync(id, "A publish needs \"text\" or \"base64\".");
                if (!session.Access.MayPublish(command.Topic))
                {
                    session.Access.OnPublishDenied(command.Topic);
                    return SendErrorAsync(id, $"{session.IdentityName} may not publish to '{command.Topic}'.", EnvelopeProtocol.ForbiddenCode);
                }

                bus.Publish(new Message(command.Topic, command.Payload, session.Source, DateTimeOffset.UtcNow, command.ContentType));
                return SendAckAsync(id);
            default:
                return SendErrorAsync(id, $"Unknown op '{command.Op}': use subscribe, unsubscribe or publish.");
        }
    }

    private Task SendAckAsync(string? id)
    {
        var json = new ArrayBufferWriter<byte>(64);
        EnvelopeProtocol.WriteAck(id, json);
        return sender.SendAsync(json.WrittenMemory, WebSocketMessageType.Text);
    }

    private Task SendErrorAsync(string? id, string error, string code = EnvelopeProtocol.InvalidCode)
    {
        var json = new ArrayBufferWriter<byte>(128);
        EnvelopeProtocol.WriteError(id, code, error, json);
        return sender.SendAsync(json.WrittenMemory, WebSocketMessageType.Text);
    }
}
