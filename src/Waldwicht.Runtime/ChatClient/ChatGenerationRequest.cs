using System.Text.Json;
using Waldwicht.Runtime.Sampling;
using Waldwicht.Text.Chat;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>How the model may use the tools of a request (OpenAI "tool_choice").</summary>
public enum ToolChoiceMode
{
    /// <summary>The model decides whether to call a tool.</summary>
    Auto,

    /// <summary>The model answers in text: the tool-call start token is suppressed.</summary>
    None,

    /// <summary>The reply starts with a tool call (decoding is constrained to open one).</summary>
    Required,

    /// <summary>The reply starts with a call of one named function.</summary>
    Function,
}

/// <summary>Tool choice of a request; <see cref="FunctionName"/> is set for <see cref="ToolChoiceMode.Function"/>.</summary>
public sealed record ToolChoice(ToolChoiceMode Mode, string? FunctionName = null)
{
    public static ToolChoice Auto { get; } = new(ToolChoiceMode.Auto);

    public static ToolChoice None { get; } = new(ToolChoiceMode.None);

    public static ToolChoice Required { get; } = new(ToolChoiceMode.Required);

    /// <summary>Forces a call of the function <paramref name="name"/>.</summary>
    public static ToolChoice ForFunction(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new ToolChoice(ToolChoiceMode.Function, name);
    }
}

/// <summary>Kind of output a request asks for (OpenAI "response_format").</summary>
public enum ResponseFormatKind
{
    /// <summary>Free text.</summary>
    Text,

    /// <summary>Any JSON object.</summary>
    JsonObject,

    /// <summary>JSON that matches a schema.</summary>
    JsonSchema,
}

/// <summary>Output format of a request; JSON formats are enforced by constrained decoding.</summary>
/// <param name="Kind">Text, any JSON object, or JSON matching <paramref name="Schema"/>.</param>
/// <param name="Schema">The JSON schema for <see cref="ResponseFormatKind.JsonSchema"/>.</param>
/// <param name="Name">Schema name, for logs.</param>
public sealed record ResponseFormat(ResponseFormatKind Kind, JsonElement? Schema = null, string? Name = null)
{
    public static ResponseFormat Text { get; } = new(ResponseFormatKind.Text);

    public static ResponseFormat JsonObject { get; } = new(ResponseFormatKind.JsonObject);

    /// <summary>Creates a format that requires JSON matching <paramref name="schema"/>.</summary>
    public static ResponseFormat ForSchema(JsonElement schema, string? name = null) =>
        new(ResponseFormatKind.JsonSchema, schema.Clone(), name);
}

/// <summary>
/// One generation request for <see cref="ChatEngine"/>: either a conversation (<see cref="Messages"/>,
/// rendered with the model's chat template) or a raw completion prompt (<see cref="Prompt"/>).
/// </summary>
public sealed record ChatGenerationRequest
{
    /// <summary>The conversation; null for a raw completion.</summary>
    public IReadOnlyList<ChatMessage>? Messages { get; init; }

    /// <summary>A raw completion prompt, tokenized without the chat template; null for a chat request.</summary>
    public string? Prompt { get; init; }

    /// <summary>Functions the model may call; rendered into the system turn.</summary>
    public IReadOnlyList<ToolDefinition> Tools { get; init; } = [];

    public ToolChoice ToolChoice { get; init; } = ToolChoice.Auto;

    public ResponseFormat ResponseFormat { get; init; } = ResponseFormat.Text;

    /// <summary>Puts the think token into the prompt, so the model may open a thought channel.</summary>
    public bool EnableThinking { get; init; }

    /// <summary>Most tokens the model may spend inside a thought channel before the channel is closed for it; null = no limit.</summary>
    public int? ReasoningBudget { get; init; }

    /// <summary>Most tokens to generate per choice; null = up to the context limit. 0 returns an empty reply.</summary>
    public int? MaxTokens { get; init; }

    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Strings that end the reply when they appear in its content; the match itself is not returned.</summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];

    /// <summary>Report the log-probability of every generated token.</summary>
    public bool Logprobs { get; init; }

    /// <summary>Number of most likely alternatives to report per token (0 to 20); needs <see cref="Logprobs"/>.</summary>
    public int TopLogprobs { get; init; }

    /// <summary>Number of independent replies to generate (OpenAI "n").</summary>
    public int ChoiceCount { get; init; } = 1;

    /// <summary>True for a raw completion request.</summary>
    public bool IsCompletion => Prompt is not null;
}
