using System.Security.Cryptography;
using System.Text;
using Waldwicht.Runtime.ChatClient.Constraints;
using Waldwicht.Runtime.Generation;
using Waldwicht.Text.Chat;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>
/// Turns the tokens of one reply into <see cref="ReplyUpdate"/>s: decodes them, splits content, reasoning and
/// tool calls with <see cref="Gemma4OutputSplitter"/>, and matches stop sequences on the content. Streaming and
/// non-streaming responses are both built from these updates, so they always agree. Not thread-safe.
/// </summary>
/// <remarks>
/// A tool call that does not parse is returned as content (with each string delimiter token written as a plain
/// quote, so no control token leaks) followed by a <see cref="ReplyToolCallRejected"/>. Stop sequences are
/// matched on content only; reasoning and tool-call text are not searched.
/// </remarks>
public sealed class ReplyAssembler
{
    private const string IdAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

    private readonly TokenTextStream _text;
    private readonly Gemma4OutputSplitter _splitter;
    private readonly StopSequenceMatcher _stops;
    private readonly ThoughtChannelTokens _markers;
    private readonly int _choice;
    private readonly List<ReplyUpdate> _updates = [];
    private bool _inChannel;
    private bool _finished;

    /// <param name="tokenizer">Tokenizer of the model.</param>
    /// <param name="splitter">Splitter for this reply (see <see cref="Gemma4OutputSplitter.ForPrompt"/>).</param>
    /// <param name="stopSequences">Stop sequences of the request.</param>
    /// <param name="markers">Thought channel markers, for counting reasoning tokens.</param>
    /// <param name="startInsideChannel">True when the prompt ends inside an open thought channel.</param>
    /// <param name="choice">Index of the choice.</param>
    public ReplyAssembler(
        GemmaTokenizer tokenizer,
        Gemma4OutputSplitter splitter,
        IReadOnlyList<string> stopSequences,
        ThoughtChannelTokens markers,
        bool startInsideChannel,
        int choice)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(splitter);
        _text = new TokenTextStream(tokenizer);
        _splitter = splitter;
        _stops = new StopSequenceMatcher(stopSequences);
        _markers = markers;
        _inChannel = startInsideChannel;
        _choice = choice;
    }

    /// <summary>True once a stop sequence matched: generation should end.</summary>
    public bool StopMatched => _stops.Matched;

    /// <summary>Tokens generated inside a thought channel so far, markers included.</summary>
    public int ReasoningTokens { get; private set; }

    /// <summary>Tool calls parsed so far.</summary>
    public int ToolCalls { get; private set; }

    /// <summary>Adds one generated token and returns the updates it completes.</summary>
    public IReadOnlyList<ReplyUpdate> Add(int tokenId)
    {
        _updates.Clear();
        CountReasoning(tokenId);
        if (_stops.Matched)
        {
            return _updates;
        }

        foreach (var piece in _text.Add(tokenId))
        {
            Route(_splitter.AppendToken(piece.Text, piece.IsSpecial));
        }

        return _updates;
    }

    /// <summary>Ends the reply: releases held-back text and reports a tool call left open. Call once.</summary>
    public IReadOnlyList<ReplyUpdate> Finish()
    {
        if (_finished)
        {
            throw new InvalidOperationException("The reply was already finished.");
        }

        _finished = true;
        _updates.Clear();
        if (!_stops.Matched)
        {
            string pending = _text.Flush();
            if (pending.Length > 0)
            {
                Route(_splitter.AppendToken(pending, isSpecial: false));
            }

            Route(_splitter.Finish());
            AddContent(_stops.Flush());
        }

        return _updates;
    }

    /// <summary>Creates an OpenAI-style tool call id: "call_" and 24 random letters and digits.</summary>
    public static string NewToolCallId() => "call_" + RandomNumberGenerator.GetString(IdAlphabet, 24);

    private void CountReasoning(int tokenId)
    {
        if (tokenId == _markers.ChannelStart)
        {
            _inChannel = true;
        }

        if (_inChannel)
        {
            ReasoningTokens++;
        }

        if (tokenId == _markers.ChannelEnd || tokenId == _markers.ToolCallStart)
        {
            _inChannel = false;
        }
    }

    private void Route(IReadOnlyList<ChatOutputEvent> events)
    {
        foreach (var item in events)
        {
            if (_stops.Matched)
            {
                return;
            }

            switch (item)
            {
                case ContentDelta content:
                    AddContent(_stops.Append(content.Text));
                    break;
                case ReasoningDelta reasoning:
                    Append(new ReplyReasoning(_choice, reasoning.Text));
                    break;
                case ToolCallCompleted { Result.Succeeded: true } call:
                    Append(new ReplyToolCall(_choice, ToolCalls++, NewToolCallId(), call.Result.Name!, call.Result.ArgumentsJson!));
                    break;
                case ToolCallCompleted call:
                    AddContent(_stops.Append(RejectedCallText(call.Result.RawText)));
                    Append(new ReplyToolCallRejected(_choice, call.Result.RawText, call.Result.Error!));
                    break;
            }
        }
    }

    private static string RejectedCallText(string raw) =>
        new StringBuilder(raw).Replace(Gemma4ControlTokens.StringDelimiter, "\"").ToString();

    private void AddContent(string text)
    {
        if (text.Length > 0)
        {
            Append(new ReplyContent(_choice, text));
        }
    }

    private void Append(ReplyUpdate update)
    {
        // Merge adjacent text of one kind, so a token that completes several pieces gives one update.
        if (_updates.Count > 0)
        {
            switch (_updates[^1], update)
            {
                case (ReplyContent previous, ReplyContent next):
                    _updates[^1] = previous with { Text = previous.Text + next.Text };
                    return;
                case (ReplyReasoning previous, ReplyReasoning next):
                    _updates[^1] = previous with { Text = previous.Text + next.Text };
                    return;
            }
        }

        _updates.Add(update);
    }
}
