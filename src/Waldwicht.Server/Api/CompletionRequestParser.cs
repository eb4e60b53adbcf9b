using System.Text.Json;
using System.Text.Json.Nodes;
using Waldwicht.Runtime.ChatClient;
using Waldwicht.Runtime.Sampling;
using Waldwicht.Text.Chat;

namespace Waldwicht.Server.Api;

/// <summary>A parsed request body: the engine request plus the HTTP-level fields.</summary>
/// <param name="Request">The generation request.</param>
/// <param name="Model">The "model" field, or null when absent.</param>
/// <param name="Stream">Answer as server-sent events.</param>
/// <param name="IncludeUsage">Send a usage chunk before [DONE] (stream_options.include_usage).</param>
internal sealed record ParsedRequest(ChatGenerationRequest Request, string? Model, bool Stream, bool IncludeUsage);

/// <summary>
/// Reads the bodies of <c>/v1/chat/completions</c> and <c>/v1/completions</c> into engine requests, with
/// OpenAI's field names, types and ranges. Unknown fields are ignored; known fields this server cannot honour
/// are rejected rather than dropped.
/// </summary>
internal static class CompletionRequestParser
{
    private static readonly string[] UnsupportedFields =
        ["functions", "function_call", "audio", "modalities", "prediction", "web_search_options", "best_of", "suffix"];

    /// <summary>Parses a chat completion request; absent temperature, top_p and top_k take <paramref name="defaults"/>.</summary>
    /// <exception cref="ApiException">A field is missing, has the wrong type or is out of range (400).</exception>
    public static ParsedRequest ParseChat(JsonElement body, bool thinkingByDefault, int vocabularySize, SamplingOptions defaults)
    {
        RequireObject(body);
        RejectUnsupported(body);
        var messagesElement = JsonFields.Array(body, "messages", "messages")
            ?? throw ApiException.Invalid("messages is required: pass the conversation as an array of messages.", "messages");
        var messages = new List<ChatMessage>();
        int index = 0;
        foreach (var message in messagesElement.EnumerateArray())
        {
            messages.Add(ParseMessage(message, $"messages[{index++}]"));
        }

        if (messages.Count == 0)
        {
            throw ApiException.Invalid("messages must contain at least one message.", "messages");
        }

        var (thinking, budget) = ReadThinking(body, thinkingByDefault);
        var request = ReadCommon(body, vocabularySize, defaults) with
        {
            Messages = messages,
            Tools = ReadTools(body),
            ToolChoice = ReadToolChoice(body),
            ResponseFormat = ReadResponseFormat(body),
            EnableThinking = thinking,
            ReasoningBudget = budget,
        };

        if (JsonFields.Bool(body, "parallel_tool_calls", "parallel_tool_calls") == false)
        {
            throw ApiException.Invalid("parallel_tool_calls false is not supported; the model may make several calls in one reply.", "parallel_tool_calls");
        }

        return Wrap(body, request);
    }

    /// <summary>Parses a text completion request; absent temperature, top_p and top_k take <paramref name="defaults"/>.</summary>
    /// <exception cref="ApiException">A field is missing, has the wrong type or is out of range (400).</exception>
    public static ParsedRequest ParseCompletion(JsonElement body, int vocabularySize, SamplingOptions defaults)
    {
        RequireObject(body);
        RejectUnsupported(body);
        if (JsonFields.Bool(body, "echo", "echo") == true)
        {
            throw ApiException.Invalid("echo is not supported.", "echo");
        }

        if (!JsonFields.IsPresent(body, "prompt", out var prompt))
        {
            throw ApiException.Invalid("prompt is required: pass the text to continue as a string.", "prompt");
        }

        string text = prompt.ValueKind switch
        {
            JsonValueKind.String => prompt.GetString()!,
            JsonValueKind.Array when prompt.GetArrayLength() == 1 && prompt[0].ValueKind == JsonValueKind.String => prompt[0].GetString()!,
            _ => throw ApiException.Invalid("prompt must be a string (or an array with exactly one string).", "prompt"),
        };

        var request = ReadCommon(body, vocabularySize, defaults) with { Prompt = text };
        return Wrap(body, request);
    }

    private static ParsedRequest Wrap(JsonElement body, ChatGenerationRequest request)
    {
        string? model = JsonFields.String(body, "model", "model");
        bool stream = JsonFields.Bool(body, "stream", "stream") ?? false;
        bool includeUsage = false;
        if (JsonFields.Object(body, "stream_options", "stream_options") is { } options)
        {
            if (!stream)
            {
                throw ApiException.Invalid("stream_options is only allowed when stream is true.", "stream_options");
            }

            includeUsage = JsonFields.Bool(options, "include_usage", "stream_options.include_usage") ?? false;
        }

        return new ParsedRequest(request, model, stream, includeUsage);
    }

    private static void RequireObject(JsonElement body)
    {
        if (body.ValueKind != JsonValueKind.Object)
        {
            throw ApiException.Invalid($"The request body must be a JSON object; got {JsonFields.Describe(body)}.");
        }
    }

    private static void RejectUnsupported(JsonElement body)
    {
        foreach (string name in UnsupportedFields)
        {
            if (JsonFields.IsPresent(body, name, out _))
            {
                throw ApiException.Invalid($"{name} is not supported by this server.", name, "unsupported_parameter");
            }
        }
    }

    private static ChatGenerationRequest ReadCommon(JsonElement body, int vocabularySize, SamplingOptions defaults)
    {
        int? maxTokens = JsonFields.Integer(body, "max_completion_tokens", "max_completion_tokens", 0, int.MaxValue)
            ?? JsonFields.Integer(body, "max_tokens", "max_tokens", 0, int.MaxValue);
        long? seed = JsonFields.Long(body, "seed", "seed");
        var sampling = new SamplingOptions
        {
            Temperature = JsonFields.Number(body, "temperature", "temperature", 0, 2, note: "0 = greedy") ?? defaults.Temperature,
            TopP = JsonFields.Number(body, "top_p", "top_p", 0, 1, minExclusive: true) ?? defaults.TopP,
            TopK = JsonFields.Integer(body, "top_k", "top_k", 0, vocabularySize) ?? defaults.TopK,
            MinP = JsonFields.Number(body, "min_p", "min_p", 0, 1, note: "0 = off") ?? 0f,
            RepetitionPenalty = JsonFields.Number(body, "repetition_penalty", "repetition_penalty", 0, 10, minExclusive: true, note: "1 = off") ?? 1f,
            PresencePenalty = JsonFields.Number(body, "presence_penalty", "presence_penalty", -2, 2) ?? 0f,
            FrequencyPenalty = JsonFields.Number(body, "frequency_penalty", "frequency_penalty", -2, 2) ?? 0f,
            Seed = seed is long value ? unchecked((int)(value ^ (value >> 32))) : null,
            LogitBias = ReadLogitBias(body, vocabularySize),
        };

        bool logprobs = ReadLogprobs(body, out int topLogprobs);
        return new ChatGenerationRequest
        {
            MaxTokens = maxTokens,
            Sampling = sampling,
            StopSequences = ReadStop(body),
            Logprobs = logprobs,
            TopLogprobs = topLogprobs,
            ChoiceCount = JsonFields.Integer(body, "n", "n", 1, ChatEngine.MaxChoices) ?? 1,
        };
    }

    /// <summary>Chat: logprobs is a boolean and top_logprobs 0–20. Completions: logprobs is the number of alternatives (0–5).</summary>
    private static bool ReadLogprobs(JsonElement body, out int topLogprobs)
    {
        topLogprobs = JsonFields.Integer(body, "top_logprobs", "top_logprobs", 0, 20) ?? 0;
        if (!JsonFields.IsPresent(body, "logprobs", out var value))
        {
            if (topLogprobs > 0)
            {
                throw ApiException.Invalid("top_logprobs needs logprobs set to true.", "top_logprobs");
            }

            return false;
        }

        switch (value.ValueKind)
        {
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                if (topLogprobs > 0)
                {
                    throw ApiException.Invalid("top_logprobs needs logprobs set to true.", "top_logprobs");
                }

                return false;
            case JsonValueKind.Number:
                topLogprobs = JsonFields.Integer(body, "logprobs", "logprobs", 0, 20)!.Value;
                return true;
            default:
                throw JsonFields.WrongType("logprobs", "a boolean", value);
        }
    }

    private static IReadOnlyList<string> ReadStop(JsonElement body)
    {
        if (!JsonFields.IsPresent(body, "stop", out var stop))
        {
            return [];
        }

        if (stop.ValueKind == JsonValueKind.String)
        {
            return string.IsNullOrEmpty(stop.GetString()) ? throw ApiException.Invalid("stop must not be an empty string.", "stop") : [stop.GetString()!];
        }

        if (stop.ValueKind != JsonValueKind.Array)
        {
            throw JsonFields.WrongType("stop", "a string or an array of strings", stop);
        }

        var list = new List<string>();
        int index = 0;
        foreach (var item in stop.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || string.IsNullOrEmpty(item.GetString()))
            {
                throw ApiException.Invalid($"stop[{index}] must be a non-empty string.", "stop");
            }

            list.Add(item.GetString()!);
            index++;
        }

        if (list.Count > ChatEngine.MaxStopSequences)
        {
            throw ApiException.Invalid($"stop may list at most {ChatEngine.MaxStopSequences} sequences; got {list.Count}.", "stop");
        }

        return list;
    }

    private static IReadOnlyDictionary<int, float>? ReadLogitBias(JsonElement body, int vocabularySize)
    {
        if (JsonFields.Object(body, "logit_bias", "logit_bias") is not { } bias)
        {
            return null;
        }

        var result = new Dictionary<int, float>();
        foreach (var entry in bias.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int token)
                || token >= vocabularySize)
            {
                throw ApiException.Invalid(
                    $"logit_bias keys must be token ids between 0 and {vocabularySize - 1}; got '{entry.Name}'.", "logit_bias");
            }

            result[token] = JsonFields.Number(bias, entry.Name, $"logit_bias.{entry.Name}", -100, 100)!.Value;
        }

        return result;
    }

    private static (bool Thinking, int? Budget) ReadThinking(JsonElement body, bool thinkingByDefault)
    {
        bool? explicitThinking = null;
        if (JsonFields.Object(body, "chat_template_kwargs", "chat_template_kwargs") is { } kwargs)
        {
            explicitThinking = JsonFields.Bool(kwargs, "enable_thinking", "chat_template_kwargs.enable_thinking");
        }

        bool? effortThinking = null;
        int? effortBudget = null;
        if (JsonFields.String(body, "reasoning_effort", "reasoning_effort") is { } effort)
        {
            if (effort == "none")
            {
                effortThinking = false;
            }
            else if (ReasoningBudgets.For(effort) is int budget)
            {
                effortThinking = true;
                effortBudget = budget;
            }
            else
            {
                throw ApiException.Invalid($"reasoning_effort must be none, minimal, low, medium or high; got '{effort}'.", "reasoning_effort");
            }
        }

        int? explicitBudget = JsonFields.Integer(body, "max_reasoning_tokens", "max_reasoning_tokens", 1, int.MaxValue);
        bool thinking = explicitThinking ?? effortThinking ?? thinkingByDefault;
        return (thinking, thinking ? explicitBudget ?? effortBudget : null);
    }

    private static ChatMessage ParseMessage(JsonElement message, string path)
    {
        if (message.ValueKind != JsonValueKind.Object)
        {
            throw JsonFields.WrongType(path, "an object", message);
        }

        string role = JsonFields.String(message, "role", $"{path}.role")
            ?? throw ApiException.Invalid($"{path}.role is required.", $"{path}.role");
        if (role is not (ChatMessage.SystemRole or ChatMessage.DeveloperRole or ChatMessage.UserRole or ChatMessage.AssistantRole or ChatMessage.ToolRole))
        {
            throw ApiException.Invalid($"{path}.role must be system, developer, user, assistant or tool; got '{role}'.", $"{path}.role");
        }

        var content = ReadContent(message, path);
        if (role != ChatMessage.AssistantRole && content is null && role != ChatMessage.ToolRole)
        {
            throw ApiException.Invalid($"{path}.content is required for role {role}.", $"{path}.content");
        }

        var calls = role == ChatMessage.AssistantRole ? ReadToolCalls(message, path) : [];
        string? reasoning = JsonFields.String(message, "reasoning_content", $"{path}.reasoning_content")
            ?? JsonFields.String(message, "reasoning", $"{path}.reasoning");
        return new ChatMessage(role, content)
        {
            ToolCalls = calls,
            Reasoning = role == ChatMessage.AssistantRole ? reasoning : null,
            ToolCallId = role == ChatMessage.ToolRole ? JsonFields.String(message, "tool_call_id", $"{path}.tool_call_id") : null,
            Name = JsonFields.String(message, "name", $"{path}.name"),
        };
    }

    private static ChatContent? ReadContent(JsonElement message, string path)
    {
        if (!JsonFields.IsPresent(message, "content", out var content))
        {
            return null;
        }

        if (content.ValueKind == JsonValueKind.String)
        {
            return ChatContent.FromText(content.GetString()!);
        }

        if (content.ValueKind != JsonValueKind.Array)
        {
            throw JsonFields.WrongType($"{path}.content", "a string or an array of content parts", content);
        }

        var parts = new List<ChatContentPart>();
        int index = 0;
        foreach (var part in content.EnumerateArray())
        {
            string partPath = $"{path}.content[{index++}]";
            if (part.ValueKind != JsonValueKind.Object)
            {
                throw JsonFields.WrongType(partPath, "a content part object", part);
            }

            string type = JsonFields.String(part, "type", $"{partPath}.type")
                ?? throw ApiException.Invalid($"{partPath}.type is required.", $"{partPath}.type");
            if (type != "text")
            {
                throw ApiException.Invalid(
                    $"{partPath}.type '{type}' is not supported: this server runs a text-only model; send text parts.", $"{partPath}.type");
            }

            string text = JsonFields.String(part, "text", $"{partPath}.text")
                ?? throw ApiException.Invalid($"{partPath}.text is required for a text part.", $"{partPath}.text");
            parts.Add(ChatContentPart.FromText(text));
        }

        return ChatContent.FromParts(parts);
    }

    private static IReadOnlyList<ChatToolCall> ReadToolCalls(JsonElement message, string path)
    {
        if (JsonFields.Array(message, "tool_calls", $"{path}.tool_calls") is not { } calls)
        {
            return [];
        }

        var result = new List<ChatToolCall>();
        int index = 0;
        foreach (var call in calls.EnumerateArray())
        {
            string callPath = $"{path}.tool_calls[{index++}]";
            if (call.ValueKind != JsonValueKind.Object)
            {
                throw JsonFields.WrongType(callPath, "an object", call);
            }

            var function = JsonFields.Object(call, "function", $"{callPath}.function")
                ?? throw ApiException.Invalid($"{callPath}.function is required.", $"{callPath}.function");
            string name = JsonFields.String(function, "name", $"{callPath}.function.name")
                ?? throw ApiException.Invalid($"{callPath}.function.name is required.", $"{callPath}.function.name");
            string arguments = JsonFields.IsPresent(function, "arguments", out var args)
                ? args.ValueKind == JsonValueKind.String ? args.GetString()! : args.GetRawText()
                : "{}";
            result.Add(ChatToolCall.FromArgumentsJson(name, arguments, JsonFields.String(call, "id", $"{callPath}.id")));
        }

        return result;
    }

    private static IReadOnlyList<ToolDefinition> ReadTools(JsonElement body)
    {
        if (JsonFields.Array(body, "tools", "tools") is not { } tools)
        {
            return [];
        }

        var result = new List<ToolDefinition>();
        int index = 0;
        foreach (var tool in tools.EnumerateArray())
        {
            string path = $"tools[{index++}]";
            if (tool.ValueKind != JsonValueKind.Object)
            {
                throw JsonFields.WrongType(path, "an object", tool);
            }

            string type = JsonFields.String(tool, "type", $"{path}.type") ?? "function";
            if (type != "function")
            {
                throw ApiException.Invalid($"{path}.type must be function; got '{type}'.", $"{path}.type");
            }

            var function = JsonFields.Object(tool, "function", $"{path}.function")
                ?? throw ApiException.Invalid($"{path}.function is required.", $"{path}.function");
            string name = JsonFields.String(function, "name", $"{path}.function.name")
                ?? throw ApiException.Invalid($"{path}.function.name is required.", $"{path}.function.name");
            var parameters = JsonFields.Object(function, "parameters", $"{path}.function.parameters");
            result.Add(new ToolDefinition(
                name,
                JsonFields.String(function, "description", $"{path}.function.description"),
                parameters is { } schema ? JsonNode.Parse(schema.GetRawText()) as JsonObject : null));
        }

        return result;
    }

    private static ToolChoice ReadToolChoice(JsonElement body)
    {
        if (!JsonFields.IsPresent(body, "tool_choice", out var choice))
        {
            return ToolChoice.Auto;
        }

        if (choice.ValueKind == JsonValueKind.String)
        {
            return choice.GetString() switch
            {
                "auto" => ToolChoice.Auto,
                "none" => ToolChoice.None,
                "required" => ToolChoice.Required,
                var other => throw ApiException.Invalid(
                    $"tool_choice must be auto, none, required or {{\"type\": \"function\", \"function\": {{\"name\": ...}}}}; got '{other}'.", "tool_choice"),
            };
        }

        if (choice.ValueKind == JsonValueKind.Object
            && JsonFields.Object(choice, "function", "tool_choice.function") is { } function
            && JsonFields.String(function, "name", "tool_choice.function.name") is { Length: > 0 } name)
        {
            return ToolChoice.ForFunction(name);
        }

        throw ApiException.Invalid("tool_choice must be auto, none, required or {\"type\": \"function\", \"function\": {\"name\": ...}}.", "tool_choice");
    }

    private static ResponseFormat ReadResponseFormat(JsonElement body)
    {
        if (JsonFields.Object(body, "response_format", "response_format") is not { } format)
        {
            return ResponseFormat.Text;
        }

        string type = JsonFields.String(format, "type", "response_format.type")
            ?? throw ApiException.Invalid("response_format.type is required.", "response_format.type");
        switch (type)
        {
            case "text":
                return ResponseFormat.Text;
            case "json_object":
                return ResponseFormat.JsonObject;
            case "json_schema":
                var jsonSchema = JsonFields.Object(format, "json_schema", "response_format.json_schema")
                    ?? throw ApiException.Invalid("response_format.json_schema is required for type json_schema.", "response_format.json_schema");
                if (!JsonFields.IsPresent(jsonSchema, "schema", out var schema))
                {
                    throw ApiException.Invalid("response_format.json_schema.schema is required.", "response_format.json_schema.schema");
                }

                return ResponseFormat.ForSchema(schema, JsonFields.String(jsonSchema, "name", "response_format.json_schema.name"));
            default:
                throw ApiException.Invalid($"response_format.type must be text, json_object or json_schema; got '{type}'.", "response_format.type");
        }
    }
}
