using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using Waldwicht.Runtime.Sampling;
using Waldwicht.Text.Chat;
using AIChatMessage = Microsoft.Extensions.AI.ChatMessage;
using TextChatMessage = Waldwicht.Text.Chat.ChatMessage;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>
/// Maps Microsoft.Extensions.AI messages and <see cref="ChatOptions"/> to a <see cref="ChatGenerationRequest"/>,
/// with the same meaning as the fields of the OpenAI-compatible server.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item><see cref="ChatOptions.Temperature"/>, <see cref="ChatOptions.TopP"/>, <see cref="ChatOptions.TopK"/>,
/// <see cref="ChatOptions.FrequencyPenalty"/>, <see cref="ChatOptions.PresencePenalty"/>, <see cref="ChatOptions.Seed"/>,
/// <see cref="ChatOptions.MaxOutputTokens"/> and <see cref="ChatOptions.StopSequences"/> map to the fields of the
/// same name. Unset temperature means greedy decoding (0).</item>
/// <item><see cref="ChatOptions.Tools"/> (function declarations) become tool definitions; <see cref="ChatOptions.ToolMode"/>
/// maps to auto, none, required or a named function.</item>
/// <item><see cref="ChatOptions.ResponseFormat"/>: JSON without schema is any JSON object, JSON with schema is
/// enforced by constrained decoding.</item>
/// <item><see cref="ChatOptions.Reasoning"/>: effort None turns thinking off; Low, Medium, High and ExtraHigh turn
/// it on with the budgets of <see cref="ReasoningBudgets"/>.</item>
/// <item><see cref="ChatOptions.AdditionalProperties"/>: <c>min_p</c>, <c>repetition_penalty</c>,
/// <c>enable_thinking</c> (wins over the reasoning effort), <c>max_reasoning_tokens</c>.</item>
/// </list>
/// </remarks>
public static class ChatOptionsMapping
{
    public const string MinPKey = "min_p";
    public const string RepetitionPenaltyKey = "repetition_penalty";
    public const string EnableThinkingKey = "enable_thinking";
    public const string MaxReasoningTokensKey = "max_reasoning_tokens";

    /// <summary>Builds a chat request from messages and options.</summary>
    /// <exception cref="ChatRequestException">A message or option cannot be mapped; the message names it.</exception>
    public static ChatGenerationRequest ToRequest(IEnumerable<AIChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var converted = new List<TextChatMessage>();
        if (!string.IsNullOrEmpty(options?.Instructions))
        {
            converted.Add(TextChatMessage.System(options.Instructions));
        }

        int index = 0;
        foreach (var message in messages)
        {
            converted.AddRange(ToTextMessages(message, index++));
        }

        var additional = options?.AdditionalProperties;
        bool? explicitThinking = ReadBool(additional, EnableThinkingKey);
        var effort = options?.Reasoning?.Effort;
        bool thinking = explicitThinking ?? (effort is { } e && e != ReasoningEffort.None);
        int? budget = ReadInt(additional, MaxReasoningTokensKey) ?? (thinking ? ReasoningBudgets.For(effort) : null);

        var sampling = new SamplingOptions
        {
            Temperature = options?.Temperature ?? 0f,
            TopP = options?.TopP ?? 1f,
            TopK = options?.TopK ?? 0,
            MinP = ReadFloat(additional, MinPKey) ?? 0f,
            RepetitionPenalty = ReadFloat(additional, RepetitionPenaltyKey) ?? 1f,
            PresencePenalty = options?.PresencePenalty ?? 0f,
            FrequencyPenalty = options?.FrequencyPenalty ?? 0f,
            Seed = options?.Seed is long seed ? unchecked((int)seed) : null,
        };

        return new ChatGenerationRequest
        {
            Messages = converted,
            Tools = ToTools(options?.Tools),
            ToolChoice = ToToolChoice(options?.ToolMode),
            ResponseFormat = ToResponseFormat(options?.ResponseFormat),
            EnableThinking = thinking,
            ReasoningBudget = thinking ? budget : null,
            MaxTokens = options?.MaxOutputTokens,
            Sampling = sampling,
            StopSequences = options?.StopSequences is { } stops ? [.. stops] : [],
        };
    }

    /// <summary>Converts an engine tool call to <see cref="FunctionCallContent"/> with parsed arguments.</summary>
    public static FunctionCallContent ToFunctionCall(ReplyToolCall call)
    {
        ArgumentNullException.ThrowIfNull(call);
        var arguments = new Dictionary<string, object?>();
        using (var document = JsonDocument.Parse(call.ArgumentsJson))
        {
            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (var property in document.RootElement.EnumerateObject())
                {
                    arguments[property.Name] = property.Value.Clone();
                }
            }
        }

        return new FunctionCallContent(call.Id, call.Name, arguments);
    }

    public static ChatFinishReason ToFinishReason(ReplyFinishReason reason) => reason switch
    {
        ReplyFinishReason.Length => ChatFinishReason.Length,
        ReplyFinishReason.ToolCalls => ChatFinishReason.ToolCalls,
        _ => ChatFinishReason.Stop,
    };

    public static UsageDetails ToUsageDetails(ChatUsage usage)
    {
        ArgumentNullException.ThrowIfNull(usage);
        return new UsageDetails
        {
            InputTokenCount = usage.PromptTokens,
            OutputTokenCount = usage.CompletionTokens,
            TotalTokenCount = usage.TotalTokens,
            CachedInputTokenCount = usage.CachedPromptTokens,
            ReasoningTokenCount = usage.ReasoningTokens,
        };
    }

    private static IEnumerable<TextChatMessage> ToTextMessages(AIChatMessage message, int index)
    {
        string role = message.Role.Value;
        if (role == ChatRole.Tool.Value)
        {
            bool any = false;
            foreach (var result in message.Contents.OfType<FunctionResultContent>())
            {
                any = true;
                yield return TextChatMessage.Tool(result.CallId, ResultText(result.Result));
            }

            if (!any)
            {
                yield return TextChatMessage.Tool(null, message.Text);
            }

            yield break;
        }

        var calls = new List<ChatToolCall>();
        var reasoning = new List<string>();
        foreach (var content in message.Contents)
        {
            switch (content)
            {
                case FunctionCallContent call:
                    calls.Add(new ChatToolCall(call.Name, ToJsonObject(call.Arguments), call.CallId));
                    break;
                case TextReasoningContent thought:
                    reasoning.Add(thought.Text);
                    break;
                case TextContent or UsageContent:
                    break;
                default:
                    throw new ChatRequestException(
                        $"messages[{index}].contents",
                        $"Content of type {content.GetType().Name} is not supported; this model takes text, reasoning, function calls and function results.");
            }
        }

        yield return new TextChatMessage(role, message.Text)
        {
            ToolCalls = calls,
            Reasoning = reasoning.Count > 0 ? string.Concat(reasoning) : null,
        };
    }

    private static string ResultText(object? result) => result switch
    {
        null => string.Empty,
        string text => text,
        JsonElement element => element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText(),
        _ => JsonSerializer.Serialize(result, AIJsonUtilities.DefaultOptions),
    };

    private static JsonObject? ToJsonObject(IDictionary<string, object?>? arguments)
    {
        if (arguments is null)
        {
            return null;
        }

        var node = JsonSerializer.SerializeToNode(arguments, AIJsonUtilities.DefaultOptions);
        return node as JsonObject;
    }

    private static IReadOnlyList<ToolDefinition> ToTools(IList<AITool>? tools)
    {
        if (tools is null)
        {
            return [];
        }

        var result = new List<ToolDefinition>();
        foreach (var tool in tools)
        {
            if (tool is AIFunctionDeclaration function)
            {
                var parameters = JsonNode.Parse(function.JsonSchema.GetRawText()) as JsonObject;
                result.Add(new ToolDefinition(function.Name, function.Description, parameters));
            }
            else
            {
                throw new ChatRequestException("tools", $"Tool '{tool.Name}' of type {tool.GetType().Name} is not supported; only function declarations are.");
            }
        }

        return result;
    }

    private static ToolChoice ToToolChoice(ChatToolMode? mode) => mode switch
    {
        NoneChatToolMode => ToolChoice.None,
        RequiredChatToolMode { RequiredFunctionName: { } name } => ToolChoice.ForFunction(name),
        RequiredChatToolMode => ToolChoice.Required,
        _ => ToolChoice.Auto,
    };

    private static ResponseFormat ToResponseFormat(ChatResponseFormat? format) => format switch
    {
        ChatResponseFormatJson { Schema: { } schema } json => ResponseFormat.ForSchema(schema, json.SchemaName),
        ChatResponseFormatJson => ResponseFormat.JsonObject,
        _ => ResponseFormat.Text,
    };

    private static bool? ReadBool(AdditionalPropertiesDictionary? properties, string key) =>
        properties?.TryGetValue(key, out var value) == true
            ? value switch
            {
                bool flag => flag,
                JsonElement { ValueKind: JsonValueKind.True } => true,
                JsonElement { ValueKind: JsonValueKind.False } => false,
                string text when bool.TryParse(text, out bool parsed) => parsed,
                _ => throw new ChatRequestException(key, $"{key} must be a boolean; got {value}."),
            }
            : null;

    private static float? ReadFloat(AdditionalPropertiesDictionary? properties, string key) =>
        properties?.TryGetValue(key, out var value) == true
            ? value switch
            {
                JsonElement { ValueKind: JsonValueKind.Number } element => element.GetSingle(),
                IConvertible convertible when value is not string and not bool => convertible.ToSingle(CultureInfo.InvariantCulture),
                _ => throw new ChatRequestException(key, $"{key} must be a number; got {value}."),
            }
            : null;

    private static int? ReadInt(AdditionalPropertiesDictionary? properties, string key) =>
        properties?.TryGetValue(key, out var value) == true
            ? value switch
            {
                JsonElement { ValueKind: JsonValueKind.Number } element when element.TryGetInt32(out int number) => number,
                int number => number,
                long number when number is >= int.MinValue and <= int.MaxValue => (int)number,
                _ => throw new ChatRequestException(key, $"{key} must be an integer; got {value}."),
            }
            : null;
}

/// <summary>Reasoning token budgets per effort level, shared by the server's reasoning_effort field and the chat client.</summary>
public static class ReasoningBudgets
{
    public const int Minimal = 128;
    public const int Low = 512;
    public const int Medium = 2048;
    public const int High = 8192;

    /// <summary>Returns the budget of an effort level; null (no limit) for ExtraHigh or no effort.</summary>
    public static int? For(ReasoningEffort? effort) => effort switch
    {
        ReasoningEffort.Low => Low,
        ReasoningEffort.Medium => Medium,
        ReasoningEffort.High => High,
        _ => null,
    };

    /// <summary>Returns the budget of an OpenAI reasoning_effort value ("minimal", "low", "medium", "high"); null otherwise.</summary>
    public static int? For(string effort) => effort switch
    {
        "minimal" => Minimal,
        "low" => Low,
        "medium" => Medium,
        "high" => High,
        _ => null,
    };
}
