namespace Waldwicht.Runtime.ChatClient;

/// <summary>Why a reply ended, in OpenAI's terms.</summary>
public enum ReplyFinishReason
{
    /// <summary>The model ended its turn, or a stop sequence matched.</summary>
    Stop,

    /// <summary>The token limit was reached.</summary>
    Length,

    /// <summary>The model ended its turn after at least one parsed tool call.</summary>
    ToolCalls,

    /// <summary>The caller cancelled the request (for example, the client disconnected) or the engine shut down.</summary>
    Cancelled,
}

/// <summary>One token with its log-probability and the most likely alternatives.</summary>
/// <param name="TokenId">Token id.</param>
/// <param name="Text">Decoded text of the token alone; control tokens as their literal text.</param>
/// <param name="Bytes">UTF-8 bytes of the token alone (a byte-fallback token is one byte of a character).</param>
/// <param name="Logprob">Natural-log probability after logit processing and before temperature and filters.</param>
/// <param name="TopAlternatives">Most likely tokens at this position, most likely first; empty unless requested.</param>
public sealed record TokenLogprobInfo(int TokenId, string Text, byte[] Bytes, float Logprob, IReadOnlyList<TokenLogprobInfo> TopAlternatives);

/// <summary>Something that happened in one choice of a running request, in order.</summary>
/// <param name="Choice">0-based index of the choice (OpenAI "n").</param>
public abstract record ReplyUpdate(int Choice);

/// <summary>Content text: visible answer text, never control tokens or thought-channel text.</summary>
public sealed record ReplyContent(int Choice, string Text) : ReplyUpdate(Choice);

/// <summary>Text of the thought channel.</summary>
public sealed record ReplyReasoning(int Choice, string Text) : ReplyUpdate(Choice);

/// <summary>A tool call that was parsed; <paramref name="Index"/> counts the calls of the choice from 0.</summary>
public sealed record ReplyToolCall(int Choice, int Index, string Id, string Name, string ArgumentsJson) : ReplyUpdate(Choice);

/// <summary>
/// A tool call the parser rejected. Its text was returned as content (in a <see cref="ReplyContent"/>
/// before this update); hosts log it.
/// </summary>
public sealed record ReplyToolCallRejected(int Choice, string RawText, string Error) : ReplyUpdate(Choice);

/// <summary>Log-probability of one generated token.</summary>
public sealed record ReplyLogprob(int Choice, TokenLogprobInfo Token) : ReplyUpdate(Choice);

/// <summary>The choice ended.</summary>
/// <param name="Choice">Index of the choice.</param>
/// <param name="FinishReason">Why it ended.</param>
/// <param name="CompletionTokens">Generated tokens, without the stop token that ended the reply.</param>
/// <param name="ReasoningTokens">Generated tokens inside a thought channel, markers included.</param>
/// <param name="CachedPromptTokens">Prompt tokens whose keys and values were reused.</param>
/// <param name="TimeToFirstToken">From submission (queue wait included) to the first generated token; null when none was generated.</param>
/// <param name="DecodeSeconds">From the first to the last generated token.</param>
public sealed record ReplyFinished(
    int Choice,
    ReplyFinishReason FinishReason,
    int CompletionTokens,
    int ReasoningTokens,
    int CachedPromptTokens,
    TimeSpan? TimeToFirstToken,
    double DecodeSeconds) : ReplyUpdate(Choice);

/// <summary>Token counts of a whole request, in OpenAI's "usage" terms.</summary>
/// <param name="PromptTokens">Tokens of the rendered prompt.</param>
/// <param name="CompletionTokens">Generated tokens of all choices, without the stop tokens.</param>
/// <param name="CachedPromptTokens">Prompt tokens reused from the prompt cache for the first choice.</param>
/// <param name="ReasoningTokens">Generated tokens inside thought channels, all choices.</param>
public sealed record ChatUsage(int PromptTokens, int CompletionTokens, int CachedPromptTokens, int ReasoningTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}
