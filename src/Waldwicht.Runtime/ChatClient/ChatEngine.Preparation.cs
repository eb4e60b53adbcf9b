using Waldwicht.Runtime.ChatClient.Constraints;
using Waldwicht.Runtime.Generation;
using Waldwicht.Text.Chat;

namespace Waldwicht.Runtime.ChatClient;

public sealed partial class ChatEngine
{
    /// <summary>Most choices per request.</summary>
    public const int MaxChoices = 16;

    /// <summary>Most stop sequences per request.</summary>
    public const int MaxStopSequences = 16;

    /// <summary>
    /// Validates a request, renders and tokenizes its prompt, and compiles its constraints. Cheap compared to
    /// generation; call it on the request thread so that invalid requests fail before they are queued.
    /// </summary>
    /// <exception cref="ChatRequestException">The request is invalid or its prompt does not fit the context.</exception>
    public PreparedChat Prepare(ChatGenerationRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ValidateFields(request);

        string promptText;
        int[] tokens;
        if (request.Prompt is { } raw)
        {
            promptText = raw;
            tokens = Model.EncodePrompt(raw);
        }
        else
        {
            var options = Model.DefaultRenderOptions(request.EnableThinking);
            try
            {
                promptText = Model.RenderChat(request.Messages!, request.Tools, options);
            }
            catch (ArgumentException ex)
            {
                throw new ChatRequestException("messages", $"The conversation cannot be rendered with the chat template: {ex.Message}", inner: ex);
            }

            tokens = Model.Tokenizer.Encode(promptText, addSpecialTokens: false);
        }

        string promptField = request.IsCompletion ? "prompt" : "messages";
        if (tokens.Length >= ContextLength)
        {
            throw new ChatRequestException(
                promptField,
                $"The prompt has {tokens.Length} tokens but the context holds {ContextLength}, and at least one token is needed for the reply. "
                + "Shorten the prompt or start the server with a larger --context.",
                ChatRequestErrorKind.ContextLengthExceeded);
        }

        int remaining = ContextLength - tokens.Length;
        int maxTokens = request.MaxTokens is int limit ? Math.Min(limit, remaining) : remaining;
        bool insideChannel = EndsInsideThoughtChannel(promptText);
        var schema = CompileSchema(request.ResponseFormat);
        var forced = ForcedToolCallTokens(request);
        return new PreparedChat(request, promptText, tokens, maxTokens, insideChannel, schema, forced);
    }

    private void ValidateFields(ChatGenerationRequest request)
    {
        if ((request.Messages is null) == (request.Prompt is null))
        {
            throw new ChatRequestException(null, "A request needs either messages (chat) or a prompt (completion), not both.");
        }

        if (request.Messages is { Count: 0 })
        {
            throw new ChatRequestException("messages", "messages must contain at least one message.");
        }

        if (request.ChoiceCount is < 1 or > MaxChoices)
        {
            throw new ChatRequestException("n", $"n must be between 1 and {MaxChoices}; got {request.ChoiceCount}.");
        }

        if (request.MaxTokens is < 0)
        {
            throw new ChatRequestException("max_tokens", $"max_tokens must be 0 or positive; got {request.MaxTokens}.");
        }

        if (request.ReasoningBudget is < 1)
        {
            throw new ChatRequestException("max_reasoning_tokens", $"max_reasoning_tokens must be positive; got {request.ReasoningBudget}.");
        }

        if (request.StopSequences.Count > MaxStopSequences)
        {
            throw new ChatRequestException("stop", $"stop may list at most {MaxStopSequences} sequences; got {request.StopSequences.Count}.");
        }

        if (request.StopSequences.Any(string.IsNullOrEmpty))
        {
            throw new ChatRequestException("stop", "stop sequences must not be empty strings.");
        }

        if (request.TopLogprobs is < 0 or > 20)
        {
            throw new ChatRequestException("top_logprobs", $"top_logprobs must be between 0 and 20; got {request.TopLogprobs}.");
        }

        if (request.TopLogprobs > 0 && !request.Logprobs)
        {
            throw new ChatRequestException("top_logprobs", "top_logprobs needs logprobs set to true.");
        }

        try
        {
            request.Sampling.Validate(Model.Model.Config.VocabSize);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new ChatRequestException(ex.ParamName, ex.Message.Split(" (Parameter")[0], inner: ex);
        }

        ValidateTools(request);
    }

    private static void ValidateTools(ChatGenerationRequest request)
    {
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < request.Tools.Count; i++)
        {
            if (string.IsNullOrEmpty(request.Tools[i].Name))
            {
                throw new ChatRequestException($"tools[{i}].function.name", "Every tool needs a function name.");
            }

            if (!names.Add(request.Tools[i].Name))
            {
                throw new ChatRequestException($"tools[{i}].function.name", $"The function name '{request.Tools[i].Name}' is declared twice.");
            }
        }

        var choice = request.ToolChoice;
        if (choice.Mode is ToolChoiceMode.Required or ToolChoiceMode.Function)
        {
            if (request.IsCompletion || request.Tools.Count == 0)
            {
                throw new ChatRequestException("tool_choice", $"tool_choice '{DescribeChoice(choice)}' needs at least one tool in tools.");
            }

            if (choice.Mode == ToolChoiceMode.Function && !names.Contains(choice.FunctionName!))
            {
                throw new ChatRequestException(
                    "tool_choice", $"tool_choice names the function '{choice.FunctionName}', which is not in tools ({string.Join(", ", names)}).");
            }

            if (request.ResponseFormat.Kind != ResponseFormatKind.Text)
            {
                throw new ChatRequestException("tool_choice", "A required tool call cannot be combined with a JSON response_format; use one of them.");
            }
        }
    }

    private static string DescribeChoice(ToolChoice choice) =>
        choice.Mode == ToolChoiceMode.Function ? $"function {choice.FunctionName}" : choice.Mode.ToString().ToLowerInvariant();

    private static JsonSchemaNode? CompileSchema(ResponseFormat format)
    {
        switch (format.Kind)
        {
            case ResponseFormatKind.JsonObject:
                return JsonSchemaCompiler.AnyObject();
            case ResponseFormatKind.JsonSchema when format.Schema is { } schema:
                try
                {
                    return JsonSchemaCompiler.Compile(schema);
                }
                catch (JsonSchemaException ex)
                {
                    throw new ChatRequestException("response_format.json_schema.schema", ex.Message, inner: ex);
                }

            case ResponseFormatKind.JsonSchema:
                throw new ChatRequestException("response_format.json_schema.schema", "response_format json_schema needs a schema.");
            default:
                return null;
        }
    }

    private int[]? ForcedToolCallTokens(ChatGenerationRequest request)
    {
        var choice = request.ToolChoice;
        if (choice.Mode is not (ToolChoiceMode.Required or ToolChoiceMode.Function) || _markers.ToolCallStart < 0)
        {
            return null;
        }

        if (choice.Mode == ToolChoiceMode.Required)
        {
            return [_markers.ToolCallStart];
        }

        var call = Model.Tokenizer.Encode($"call:{choice.FunctionName}{{", addSpecialTokens: false);
        return [_markers.ToolCallStart, .. call];
    }

    private static bool EndsInsideThoughtChannel(string prompt)
    {
        int open = prompt.LastIndexOf(Gemma4ControlTokens.ChannelStart, StringComparison.Ordinal);
        int close = prompt.LastIndexOf(Gemma4ControlTokens.ChannelEnd, StringComparison.Ordinal);
        return open >= 0 && open > close;
    }

    private IReadOnlyList<ILogitsProcessor> CreateProcessors(PreparedChat prepared, int choice)
    {
        var request = prepared.Request;
        bool thinking = request.EnableThinking && !request.IsCompletion;
        var processors = new List<ILogitsProcessor>();

        // The extra processor runs first, so the engine's constraints have the last word on the logits.
        if (Options.ExtraLogitsProcessor?.Invoke(request, choice) is { } extra)
        {
            processors.Add(extra);
        }

        if (request.ToolChoice.Mode == ToolChoiceMode.None && _markers.ToolCallStart >= 0)
        {
            processors.Add(new BannedTokensProcessor([_markers.ToolCallStart]));
        }

        if (prepared.ForcedTokens is { } forced)
        {
            processors.Add(new ForcedTokensProcessor(forced, _markers, thinking, prepared.StartInsideChannel));
        }

        if (prepared.Schema is { } schema)
        {
            processors.Add(new JsonConstraintProcessor(
                schema, TokenTable, Model.GenerationConfig.StopTokenIds.ToArray(), _markers, thinking, prepared.StartInsideChannel));
        }

        if (request.ReasoningBudget is int budget)
        {
            processors.Add(new ReasoningBudgetProcessor(budget, _markers, prepared.StartInsideChannel));
        }

        return processors;
    }
}
