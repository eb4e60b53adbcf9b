using Waldwicht.Runtime.Generation;

namespace Waldwicht.Runtime.ChatClient.Constraints;

/// <summary>
/// Forces the answer to start with a fixed token sequence, such as <c>&lt;|tool_call&gt;call:NAME{</c> for a
/// required tool call, and leaves the tokens after it free. With thinking allowed, a leading thought channel
/// comes first. One instance per reply.
/// </summary>
public sealed class ForcedTokensProcessor : ILogitsProcessor
{
    private readonly int[] _forced;
    private readonly ThoughtChannelTokens _markers;
    private AnswerPhaseTracker _phase;
    private int _consumed;
    private int _answerTokens;

    /// <param name="forced">Token ids the answer must start with.</param>
    /// <param name="markers">Thought channel markers of the vocabulary.</param>
    /// <param name="thinkingAllowed">True when the model may open a thought channel first.</param>
    /// <param name="startInsideChannel">True when the prompt ends inside an open thought channel.</param>
    public ForcedTokensProcessor(IReadOnlyList<int> forced, ThoughtChannelTokens markers, bool thinkingAllowed, bool startInsideChannel)
    {
        ArgumentNullException.ThrowIfNull(forced);
        ArgumentNullException.ThrowIfNull(markers);
        _forced = [.. forced];
        _markers = markers;
        _phase = new AnswerPhaseTracker(markers, thinkingAllowed, startInsideChannel);
    }

    public void Process(ReadOnlySpan<int> generated, Span<float> logits)
    {
        for (; _consumed < generated.Length; _consumed++)
        {
            if (_phase.Observe(generated[_consumed]))
            {
                _answerTokens++;
            }
        }

        if (_answerTokens >= _forced.Length || _phase.Phase == AnswerPhase.InChannel)
        {
            return;
        }

        int next = _forced[_answerTokens];
        if (_phase.Phase == AnswerPhase.BeforeAnswer)
        {
            float open = logits[_markers.ChannelStart];
            LogitMask.KeepOnly(logits, next);
            logits[_markers.ChannelStart] = open;
            return;
        }

        LogitMask.KeepOnly(logits, next);
    }
}

/// <summary>Forbids a set of tokens everywhere, such as the tool-call start for <c>tool_choice: none</c>.</summary>
public sealed class BannedTokensProcessor(IReadOnlyCollection<int> banned) : ILogitsProcessor
{
    private readonly int[] _banned = [.. banned];

    public void Process(ReadOnlySpan<int> generated, Span<float> logits)
    {
        foreach (int token in _banned)
        {
            if ((uint)token < (uint)logits.Length)
            {
                logits[token] = float.NegativeInfinity;
            }
        }
    }
}

/// <summary>
/// Closes the thought channel once the reply has spent <see cref="Budget"/> tokens inside it, by allowing only
/// the channel end token. One instance per reply.
/// </summary>
public sealed class ReasoningBudgetProcessor : ILogitsProcessor
{
    private readonly ThoughtChannelTokens _markers;
    private bool _inside;
    private int _spent;
    private int _consumed;

    /// <param name="budget">Most tokens inside the channel, the opening marker included; at least 1.</param>
    /// <param name="markers">Thought channel markers of the vocabulary.</param>
    /// <param name="startInsideChannel">True when the prompt ends inside an open thought channel.</param>
    public ReasoningBudgetProcessor(int budget, ThoughtChannelTokens markers, bool startInsideChannel)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budget);
        ArgumentNullException.ThrowIfNull(markers);
        Budget = budget;
        _markers = markers;
        _inside = startInsideChannel;
    }

    public int Budget { get; }

    public void Process(ReadOnlySpan<int> generated, Span<float> logits)
    {
        for (; _consumed < generated.Length; _consumed++)
        {
            int token = generated[_consumed];
            if (token == _markers.ChannelStart)
            {
                _inside = true;
            }

            if (_inside)
            {
                _spent++;
            }

            if (token == _markers.ChannelEnd)
            {
                _inside = false;
            }
        }

        if (_inside && _spent >= Budget && _markers.ChannelEnd >= 0)
        {
            LogitMask.KeepOnly(logits, _markers.ChannelEnd);
        }
    }
}
