using Waldwicht.Runtime.ChatClient.Constraints;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>
/// A validated request with its prompt tokenized and its constraints compiled, ready for
/// <see cref="ChatEngine.Submit"/>. Created by <see cref="ChatEngine.Prepare"/>.
/// </summary>
public sealed class PreparedChat
{
    internal PreparedChat(
        ChatGenerationRequest request,
        string promptText,
        int[] promptTokens,
        int maxTokens,
        bool startInsideChannel,
        JsonSchemaNode? schema,
        int[]? forcedTokens)
    {
        Request = request;
        PromptText = promptText;
        PromptTokens = promptTokens;
        MaxTokens = maxTokens;
        StartInsideChannel = startInsideChannel;
        Schema = schema;
        ForcedTokens = forcedTokens;
    }

    public ChatGenerationRequest Request { get; }

    /// <summary>The rendered prompt (chat template output, or the raw completion prompt).</summary>
    public string PromptText { get; }

    /// <summary>Prompt token ids, BOS included.</summary>
    public int[] PromptTokens { get; }

    /// <summary>Most tokens per choice after clamping to the context: the request's limit or the remaining context.</summary>
    public int MaxTokens { get; }

    /// <summary>True when the prompt ends inside an open thought channel, so the reply starts as reasoning.</summary>
    public bool StartInsideChannel { get; }

    /// <summary>Compiled schema of a JSON response format, or null.</summary>
    public JsonSchemaNode? Schema { get; }

    /// <summary>Tokens the reply must start with (after an optional thought channel) (a required tool call), or null.</summary>
    public int[]? ForcedTokens { get; }
}
