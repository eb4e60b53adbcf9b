using System.Text.Json;
using System.Text.Json.Nodes;

namespace Waldwicht.Text.Chat;

/// <summary>
/// A tool call of an assistant message. Arguments are normally a JSON object, which the templates write in
/// Gemma's own value syntax with sorted keys. Arguments that are not JSON are kept as text and written verbatim.
/// </summary>
public sealed class ChatToolCall
{
    /// <param name="name">Function name.</param>
    /// <param name="arguments">Argument object; null renders an empty argument list.</param>
    /// <param name="id">Call id, which OpenAI-style tool messages refer to in "tool_call_id".</param>
    public ChatToolCall(string name, JsonObject? arguments, string? id = null)
        : this(name, arguments, null, id)
    {
    }

    private ChatToolCall(string name, JsonObject? arguments, string? argumentsText, string? id)
    {
        ArgumentNullException.ThrowIfNull(name);
        Name = name;
        Arguments = arguments;
        ArgumentsText = argumentsText;
        Id = id;
    }

    /// <summary>Function name.</summary>
    public string Name { get; }

    /// <summary>Call id, or null.</summary>
    public string? Id { get; }

    /// <summary>Arguments as a JSON object, or null.</summary>
    public JsonObject? Arguments { get; }

    /// <summary>Arguments as text, set only when they were given as text that is not a JSON object.</summary>
    public string? ArgumentsText { get; }

    /// <summary>
    /// Creates a call from arguments given as JSON text (the OpenAI "function.arguments" string). The text is
    /// parsed as a server does before templating: a JSON object becomes <see cref="Arguments"/>; a JSON string
    /// value becomes <see cref="ArgumentsText"/>; any other JSON value renders no arguments; text that is not
    /// valid JSON is kept in <see cref="ArgumentsText"/>, which the templates write verbatim.
    /// </summary>
    public static ChatToolCall FromArgumentsJson(string name, string argumentsJson, string? id = null)
    {
        ArgumentNullException.ThrowIfNull(argumentsJson);
        JsonNode? parsed;
        try
        {
            using var document = JsonDocument.Parse(argumentsJson);
            parsed = ToNode(document.RootElement);
        }
        catch (JsonException)
        {
            return new ChatToolCall(name, null, argumentsJson, id);
        }

        return parsed switch
        {
            JsonObject obj => new ChatToolCall(name, obj, null, id),
            JsonValue value when value.GetValueKind() == JsonValueKind.String =>
                new ChatToolCall(name, null, value.GetValue<string>(), id),
            _ => new ChatToolCall(name, null, null, id),
        };
    }

    /// <summary>
    /// Copies a parsed value into nodes. A key that occurs twice keeps its first position and its last value,
    /// as Python's json.loads does (JsonNode.Parse would fail on first use of such an object).
    /// </summary>
    private static JsonNode? ToNode(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var property in element.EnumerateObject())
                {
                    obj[property.Name] = ToNode(property.Value);
                }

                return obj;
            case JsonValueKind.Array:
                return new JsonArray(element.EnumerateArray().Select(ToNode).ToArray());
            case JsonValueKind.Null:
                return null;
            default:
                return JsonValue.Create(element.Clone());
        }
    }
}

/// <summary>
/// A Gemma-native tool result ("tool_responses" entry): the function name and its result. An object result
/// renders as <c>response:NAME{key:value,…}</c>; any other value as <c>response:NAME{value:…}</c>.
/// </summary>
/// <param name="Name">Function name; null renders "unknown".</param>
/// <param name="Response">Result value; null is JSON null.</param>
public sealed record ChatToolResponse(string? Name, JsonNode? Response);
