using System.Text.Json;
using System.Text.Json.Nodes;
using Waldwicht.Text.Chat;

namespace Waldwicht.Text.Tests.Chat;

/// <summary>Maps conversations in the JSON shape that Jinja chat templates read onto the chat model.</summary>
internal static class ChatJson
{
    public static IReadOnlyList<ChatMessage> Messages(JsonNode? messages) =>
        messages!.AsArray().Select(m => Message(m!.AsObject())).ToArray();

    public static IReadOnlyList<ToolDefinition>? Tools(JsonNode? tools) =>
        tools?.AsArray().Select(t => Tool(t!["function"]!.AsObject())).ToArray();

    private static ChatMessage Message(JsonObject json)
    {
        return new ChatMessage((string)json["role"]!, Content(json["content"]))
        {
            ToolCalls = json["tool_calls"]?.AsArray().Select(c => Call(c!.AsObject())).ToArray() ?? [],
            ToolResponses = json["tool_responses"]?.AsArray()
                .Select(r => new ChatToolResponse((string?)r!["name"], r["response"]?.DeepClone())).ToArray() ?? [],
            Reasoning = (string?)json["reasoning"] ?? (string?)json["reasoning_content"],
            ToolCallId = (string?)json["tool_call_id"],
            Name = (string?)json["name"],
        };
    }

    private static ChatContent? Content(JsonNode? content) => content switch
    {
        null => null,
        JsonArray parts => ChatContent.FromParts(parts.Select(p => new ChatContentPart((string)p!["type"]!, (string?)p["text"]))),
        _ => ChatContent.FromText((string)content!),
    };

    private static ChatToolCall Call(JsonObject json)
    {
        var function = json["function"]!;
        var name = (string)function["name"]!;
        var id = (string?)json["id"];
        return function["arguments"] switch
        {
            JsonObject arguments => new ChatToolCall(name, arguments.DeepClone().AsObject(), id),
            JsonValue text when text.GetValueKind() == JsonValueKind.String => ChatToolCall.FromArgumentsJson(name, (string)text!, id),
            _ => new ChatToolCall(name, null, id),
        };
    }

    private static ToolDefinition Tool(JsonObject function) => new(
        (string)function["name"]!,
        (string?)function["description"],
        function["parameters"]?.DeepClone().AsObject(),
        function["response"]?.DeepClone().AsObject());
}
