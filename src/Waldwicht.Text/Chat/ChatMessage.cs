namespace Waldwicht.Text.Chat;

/// <summary>
/// One message of a conversation in the shape the Gemma 4 chat templates read. It has a role and content,
/// and optionally tool calls, Gemma-native tool responses, replayed reasoning, and for role "tool" the id and
/// name of the call it responds to.
/// </summary>
/// <remarks>
/// The role is free text: "system", "developer", "user", "assistant" (rendered as "model"), "tool", or any
/// other name, which the templates write into the turn header unchanged.
/// </remarks>
public sealed class ChatMessage
{
    public ChatMessage(string role, ChatContent? content = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(role);
        Role = role;
        Content = content;
    }

    public const string SystemRole = "system";
    public const string DeveloperRole = "developer";
    public const string UserRole = "user";
    public const string AssistantRole = "assistant";
    public const string ToolRole = "tool";

    /// <summary>Role name as given.</summary>
    public string Role { get; }

    /// <summary>Message content; null when the message has none (an assistant message with only tool calls).</summary>
    public ChatContent? Content { get; }

    /// <summary>Tool calls of an assistant message, in order.</summary>
    public IReadOnlyList<ChatToolCall> ToolCalls
    {
        get;
        init => field = NoNullItems(value, nameof(ToolCalls));
    } = [];

    /// <summary>
    /// Gemma-native tool results attached to the message (the "tool_responses" field). A message that carries
    /// them and has no content leaves its turn open, so the model continues the same turn.
    /// </summary>
    public IReadOnlyList<ChatToolResponse> ToolResponses
    {
        get;
        init => field = NoNullItems(value, nameof(ToolResponses));
    } = [];

    /// <summary>
    /// Reasoning of an earlier assistant reply ("reasoning" or "reasoning_content" in requests). Only the V2
    /// and V3 templates replay it, and only for recent assistant messages.
    /// </summary>
    public string? Reasoning { get; init; }

    /// <summary>For role "tool": the id of the call this message responds to.</summary>
    public string? ToolCallId { get; init; }

    /// <summary>For role "tool": the name of the function that produced the result.</summary>
    public string? Name { get; init; }

    public static ChatMessage System(string text) => new(SystemRole, text);

    public static ChatMessage Developer(string text) => new(DeveloperRole, text);

    public static ChatMessage User(string text) => new(UserRole, text);

    public static ChatMessage Assistant(string? text, params ChatToolCall[] toolCalls) =>
        new(AssistantRole, text is null ? null : ChatContent.FromText(text)) { ToolCalls = toolCalls };

    /// <summary>Creates an OpenAI-style tool result message.</summary>
    public static ChatMessage Tool(string? toolCallId, string content, string? name = null) =>
        new(ToolRole, content) { ToolCallId = toolCallId, Name = name };

    private static IReadOnlyList<T> NoNullItems<T>(IReadOnlyList<T> items, string property)
    {
        ArgumentNullException.ThrowIfNull(items, property);
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is null)
            {
                throw new ArgumentException($"{property}[{i}] is null; remove it from the list.", property);
            }
        }

        return items;
    }
}
