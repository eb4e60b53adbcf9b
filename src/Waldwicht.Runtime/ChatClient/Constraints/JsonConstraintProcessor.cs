using Waldwicht.Runtime.Generation;

namespace Waldwicht.Runtime.ChatClient.Constraints;

/// <summary>
/// Constrains the answer to JSON that matches a compiled schema: before each token, every token whose bytes
/// the grammar cannot accept next gets a logit of negative infinity. Once the value is complete only the stop
/// tokens remain. With thinking allowed, a leading thought channel is left unconstrained. One instance per reply.
/// </summary>
/// <remarks>
/// Allowed tokens are found by walking the vocabulary's byte trie with the grammar state, so a rejected prefix
/// prunes every token below it. Inside a free string, tokens of plain text are allowed without a walk and only
/// the tokens with quotes, backslashes or control bytes are checked one by one.
/// </remarks>
public sealed class JsonConstraintProcessor : ILogitsProcessor
{
    private readonly TokenByteTable _table;
    private readonly int[] _stopTokens;
    private readonly ThoughtChannelTokens _markers;
    private readonly bool[] _allowed;
    private readonly Stack<(int Node, JsonGrammarState State)> _walk = new();
    private AnswerPhaseTracker _phase;
    private JsonGrammarState _state;
    private int _consumed;

    /// <param name="schema">Compiled schema of the answer.</param>
    /// <param name="table">Token bytes of the vocabulary.</param>
    /// <param name="stopTokens">Tokens that end the reply; allowed once the value is complete.</param>
    /// <param name="markers">Thought channel markers of the vocabulary.</param>
    /// <param name="thinkingAllowed">True when the model may open a thought channel first.</param>
    /// <param name="startInsideChannel">True when the prompt ends inside an open thought channel.</param>
    public JsonConstraintProcessor(
        JsonSchemaNode schema,
        TokenByteTable table,
        IReadOnlyCollection<int> stopTokens,
        ThoughtChannelTokens markers,
        bool thinkingAllowed,
        bool startInsideChannel)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(table);
        ArgumentNullException.ThrowIfNull(stopTokens);
        ArgumentNullException.ThrowIfNull(markers);
        _table = table;
        _stopTokens = [.. stopTokens];
        _markers = markers;
        _allowed = new bool[table.VocabularySize];
        _phase = new AnswerPhaseTracker(markers, thinkingAllowed, startInsideChannel);
        _state = JsonGrammarState.Start(schema);
    }

    /// <summary>True when a generated token did not fit the grammar (only possible if another processor forced it); the constraint is then off.</summary>
    public bool IsBroken { get; private set; }

    /// <summary>True once the answer is one complete JSON value.</summary>
    public bool IsComplete => _state.IsComplete;

    public void Process(ReadOnlySpan<int> generated, Span<float> logits)
    {
        for (; _consumed < generated.Length; _consumed++)
        {
            int token = generated[_consumed];
            if (!_phase.Observe(token) || IsBroken)
            {
                continue;
            }

            var bytes = (uint)token < (uint)_table.Bytes.Length ? _table.Bytes[token] : null;
            if (bytes is null || !_state.TryAdvance(bytes, out _state))
            {
                IsBroken = true;
            }
        }

        if (IsBroken || _phase.Phase == AnswerPhase.InChannel)
        {
            return;
        }

        Array.Clear(_allowed);
        bool any = CollectAllowed();
        if (_state.IsComplete || !any)
        {
            foreach (int stop in _stopTokens)
            {
                if ((uint)stop < (uint)_allowed.Length)
                {
                    _allowed[stop] = true;
                }
            }
        }

        if (_phase.Phase == AnswerPhase.BeforeAnswer && _markers.ChannelStart >= 0)
        {
            _allowed[_markers.ChannelStart] = true;
        }

        LogitMask.KeepOnly(logits, _allowed);
    }

    /// <summary>Marks every token the grammar accepts next; returns whether there was one.</summary>
    private bool CollectAllowed()
    {
        if (_state.IsClosed)
        {
            return false;
        }

        bool any = false;
        if (_state.IsInFreeString)
        {
            foreach (int token in _table.PlainStringTokens)
            {
                _allowed[token] = true;
            }

            any = _table.PlainStringTokens.Length > 0;
            foreach (int token in _table.OtherTextTokens)
            {
                if (_state.TryAdvance(_table.Bytes[token], out _))
                {
                    _allowed[token] = true;
                    any = true;
                }
            }

            return any;
        }

        var trie = _table.Trie;
        _walk.Clear();
        _walk.Push((0, _state));
        while (_walk.Count > 0)
        {
            var (node, state) = _walk.Pop();
            for (int child = trie.FirstChild[node]; child >= 0; child = trie.NextSibling[child])
            {
                if (!state.TryAdvance(trie.Label[child], out var next))
                {
                    continue;
                }

                for (int token = trie.FirstToken[child]; token >= 0; token = trie.NextToken[token])
                {
                    _allowed[token] = true;
                    any = true;
                }

                if (trie.FirstChild[child] >= 0)
                {
                    _walk.Push((child, next));
                }
            }
        }

        return any;
    }
}
