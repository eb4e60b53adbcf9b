using Waldwicht.Text.Chat;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Runtime.ChatClient.Constraints;

/// <summary>
/// Token ids of the Gemma 4 markers that constrained decoding cares about. A marker that the vocabulary lacks
/// is -1 and never matches.
/// </summary>
public sealed record ThoughtChannelTokens(int ChannelStart, int ChannelEnd, int ToolCallStart)
{
    /// <summary>Looks the markers up in <paramref name="tokenizer"/>.</summary>
    public static ThoughtChannelTokens From(GemmaTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return new ThoughtChannelTokens(
            tokenizer.TokenToId(Gemma4ControlTokens.ChannelStart) ?? -1,
            tokenizer.TokenToId(Gemma4ControlTokens.ChannelEnd) ?? -1,
            tokenizer.TokenToId(Gemma4ControlTokens.ToolCallStart) ?? -1);
    }
}

/// <summary>
/// Where generation stands relative to a leading thought channel. Constraints on the answer (a forced tool call,
/// a JSON grammar) start after that channel: with thinking on, the first token may open a channel, and the
/// constraint waits until the channel is closed.
/// </summary>
internal enum AnswerPhase
{
    /// <summary>Nothing generated yet; the first token may open a thought channel.</summary>
    BeforeAnswer,

    /// <summary>Inside the thought channel: no constraint.</summary>
    InChannel,

    /// <summary>The constrained answer.</summary>
    Answer,
}

/// <summary>Tracks <see cref="AnswerPhase"/> across the generated tokens of one reply.</summary>
internal struct AnswerPhaseTracker
{
    private readonly ThoughtChannelTokens _tokens;

    public AnswerPhaseTracker(ThoughtChannelTokens tokens, bool thinkingAllowed, bool startInsideChannel)
    {
        _tokens = tokens;
        Phase = startInsideChannel ? AnswerPhase.InChannel
            : thinkingAllowed && tokens.ChannelStart >= 0 ? AnswerPhase.BeforeAnswer
            : AnswerPhase.Answer;
    }

    public AnswerPhase Phase { get; private set; }

    /// <summary>Moves past one generated token; returns true when the token belongs to the answer.</summary>
    public bool Observe(int token)
    {
        switch (Phase)
        {
            case AnswerPhase.BeforeAnswer when token == _tokens.ChannelStart:
                Phase = AnswerPhase.InChannel;
                return false;
            case AnswerPhase.BeforeAnswer:
                Phase = AnswerPhase.Answer;
                return true;
            case AnswerPhase.InChannel:
                if (token == _tokens.ChannelEnd)
                {
                    Phase = AnswerPhase.Answer;
                }

                return false;
            default:
                return true;
        }
    }
}

/// <summary>Sets logits to negative infinity.</summary>
internal static class LogitMask
{
    /// <summary>Keeps only the tokens marked in <paramref name="allowed"/>.</summary>
    public static void KeepOnly(Span<float> logits, ReadOnlySpan<bool> allowed)
    {
        for (int i = 0; i < logits.Length; i++)
        {
            if (i >= allowed.Length || !allowed[i])
            {
                logits[i] = float.NegativeInfinity;
            }
        }
    }

    /// <summary>Keeps only <paramref name="token"/> (when it is in range).</summary>
    public static void KeepOnly(Span<float> logits, int token)
    {
        if ((uint)token >= (uint)logits.Length)
        {
            return;
        }

        float value = logits[token];
        logits.Fill(float.NegativeInfinity);
        logits[token] = float.IsFinite(value) ? value : 0f;
    }
}
