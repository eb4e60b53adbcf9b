using System.Text;

namespace Waldwicht.Text.Chat;

/// <summary>
/// Splits Gemma 4 output, as it is decoded, into content, reasoning and tool calls.
/// </summary>
/// <remarks>
/// <para>Shape of a reply: <c>[&lt;|channel&gt;thought\n REASONING &lt;channel|&gt;] CONTENT
/// [&lt;|tool_call&gt;call:NAME{ARGS}&lt;tool_call|&gt;]* (&lt;turn|&gt; | &lt;|tool_response&gt; | &lt;eos&gt;)</c>.
/// The channel name and the one newline after it are not part of the reasoning. The Hugging Face response
/// schema strips them as well, while mlx-lm keeps the newline.</para>
/// <para>The tokens of <see cref="Gemma4ControlTokens.All"/> never reach content or reasoning. The channel and
/// tool-call markers switch state, an end token (<c>&lt;turn|&gt;</c>, <c>&lt;|tool_response&gt;</c>,
/// <c>&lt;eos&gt;</c>) ends the reply and later text is ignored, and any other control token is dropped.
/// Inside a tool call, the other control tokens stay in the call text, where <c>&lt;|"|&gt;</c> delimits
/// strings.</para>
/// <para>Text arrives in one of two ways. <see cref="Append"/> takes decoded text in which control tokens
/// appear as their literal strings; a chunk that ends with the start of a possible marker (such as
/// <c>&lt;tur</c>) is held back until the next chunk decides it, so no partial marker leaks. Plain text that
/// happens to spell a marker is taken as that marker. <see cref="AppendToken"/> takes one token's text with
/// a flag telling whether the token is a control token, so a marker spelled out in ordinary tokens stays text.</para>
/// <para>A <c>&lt;|tool_call&gt;</c> inside the thought channel closes the channel and starts the call.
/// A tool call that is still open when the reply ends, or when the next <c>&lt;|tool_call&gt;</c> arrives, is
/// reported as a failed call. The splitter is not
/// thread-safe; use one per reply.</para>
/// </remarks>
public sealed class Gemma4OutputSplitter
{
    private static readonly string[] Markers =
        Gemma4ControlTokens.All.OrderByDescending(marker => marker.Length).ToArray();

    private static readonly HashSet<string> MarkerSet = [.. Gemma4ControlTokens.All];

    /// <summary>Every proper prefix of a marker that starts with '&lt;': text ending in one is held back.</summary>
    private static readonly HashSet<string> MarkerPrefixes =
        Markers.SelectMany(marker => Enumerable.Range(1, marker.Length - 1).Select(length => marker[..length])).ToHashSet();

    private static readonly int MaxMarkerLength = Markers.Max(marker => marker.Length);

    /// <summary>Channel name plus its newline, which precede the reasoning text.</summary>
    private const string ThoughtHeader = Gemma4ControlTokens.ThoughtChannelName + "\n";

    private readonly StringBuilder pending = new();
    private readonly StringBuilder channelName = new();
    private readonly StringBuilder toolCall = new();
    private List<ChatOutputEvent> events = [];
    private Mode mode;
    private bool finished;

    /// <param name="startInsideThoughtChannel">True when the prompt ends inside an open thought channel (after
    /// <c>&lt;|channel&gt;thought\n</c>), so the output starts as reasoning.</param>
    public Gemma4OutputSplitter(bool startInsideThoughtChannel = false)
    {
        mode = startInsideThoughtChannel ? Mode.Reasoning : Mode.Content;
    }

    private enum Mode
    {
        Content,
        ChannelName,
        Reasoning,
        ToolCall,
        Ended,
    }

    /// <summary>The end token that ended the reply, or <see cref="ChatOutputStop.None"/> so far.</summary>
    public ChatOutputStop Stop { get; private set; }

    /// <summary>True once an end token has arrived or <see cref="Finish"/> was called; later text is ignored.</summary>
    public bool IsEnded => mode == Mode.Ended;

    /// <summary>
    /// Creates a splitter for the output that follows a prompt: it starts in the thought channel when the
    /// prompt's last <c>&lt;|channel&gt;</c> comes after its last <c>&lt;channel|&gt;</c> (a template that opens the
    /// channel for the model).
    /// </summary>
    public static Gemma4OutputSplitter ForPrompt(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        var splitter = new Gemma4OutputSplitter();
        var open = prompt.LastIndexOf(Gemma4ControlTokens.ChannelStart, StringComparison.Ordinal);
        var close = prompt.LastIndexOf(Gemma4ControlTokens.ChannelEnd, StringComparison.Ordinal);
        if (open >= 0 && open > close)
        {
            // The channel name may still be incomplete at the end of the prompt. Whatever the prompt already
            // contains of it, or of the reasoning, is not output.
            splitter.mode = Mode.ChannelName;
            splitter.channelName.Append(prompt, open + Gemma4ControlTokens.ChannelStart.Length,
                prompt.Length - open - Gemma4ControlTokens.ChannelStart.Length);
            splitter.ResolveChannelName(final: false, emitRest: false);
        }

        return splitter;
    }

    /// <summary>Splits a complete reply; the result equals that of streaming the same text in any chunks.</summary>
    public static ChatOutput Parse(string text, bool startInsideThoughtChannel = false)
    {
        ArgumentNullException.ThrowIfNull(text);
        var splitter = new Gemma4OutputSplitter(startInsideThoughtChannel);
        var events = splitter.Append(text).Concat(splitter.Finish());
        return ChatOutput.FromEvents(events, splitter.Stop);
    }

    /// <summary>
    /// Adds decoded text in which control tokens appear as their literal strings, and returns the events it
    /// completes. Adjacent deltas of one kind are merged within the returned list.
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="Finish"/> was already called.</exception>
    public IReadOnlyList<ChatOutputEvent> Append(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        BeginBatch();
        if (mode == Mode.Ended)
        {
            return [];
        }

        pending.Append(text);
        var buffer = pending.ToString();
        pending.Clear();
        var textStart = 0;
        var search = 0;
        while (mode != Mode.Ended)
        {
            var lt = buffer.IndexOf('<', search);
            if (lt < 0)
            {
                break;
            }

            if (MatchMarker(buffer, lt) is { } marker)
            {
                HandleText(buffer, textStart, lt);
                HandleMarker(marker);
                search = textStart = lt + marker.Length;
                continue;
            }

            if (buffer.Length - lt < MaxMarkerLength && MarkerPrefixes.Contains(buffer[lt..]))
            {
                HandleText(buffer, textStart, lt);
                pending.Append(buffer, lt, buffer.Length - lt);
                textStart = buffer.Length;
                break;
            }

            search = lt + 1;
        }

        HandleText(buffer, textStart, buffer.Length);
        return TakeBatch();
    }

    /// <summary>
    /// Adds the decoded text of one token and returns the events it completes.
    /// </summary>
    /// <param name="text">The token's text.</param>
    /// <param name="isSpecial">True for a control token: a Gemma 4 marker acts as one, and another control token
    /// that looks like a tag (<c>&lt;…&gt;</c>) is dropped. False for ordinary text, which is taken literally even
    /// where it spells a marker.</param>
    /// <exception cref="InvalidOperationException"><see cref="Finish"/> was already called.</exception>
    public IReadOnlyList<ChatOutputEvent> AppendToken(string text, bool isSpecial)
    {
        ArgumentNullException.ThrowIfNull(text);
        BeginBatch();
        if (mode == Mode.Ended)
        {
            return [];
        }

        FlushPending();
        if (!isSpecial)
        {
            HandleText(text, 0, text.Length);
        }
        else if (MarkerSet.Contains(text))
        {
            HandleMarker(text);
        }
        else if (!(text.StartsWith('<') && text.EndsWith('>')))
        {
            HandleText(text, 0, text.Length);
        }

        return TakeBatch();
    }

    /// <summary>
    /// Ends the reply: releases held-back text, reports a tool call that is still open as a failure, and
    /// returns the last events. Call it once, after the last token.
    /// </summary>
    /// <exception cref="InvalidOperationException"><see cref="Finish"/> was already called.</exception>
    public IReadOnlyList<ChatOutputEvent> Finish()
    {
        BeginBatch();
        finished = true;
        if (mode != Mode.Ended)
        {
            FlushPending();
            if (mode == Mode.ChannelName)
            {
                ResolveChannelName(final: true, emitRest: true);
            }

            if (mode == Mode.ToolCall)
            {
                CompleteToolCall(terminated: false);
            }

            mode = Mode.Ended;
        }

        return TakeBatch();
    }

    private void BeginBatch()
    {
        if (finished)
        {
            throw new InvalidOperationException("The reply was already finished; create a new splitter for the next reply.");
        }

        events = [];
    }

    private IReadOnlyList<ChatOutputEvent> TakeBatch() => events.Count == 0 ? [] : events;

    private static string? MatchMarker(string buffer, int index)
    {
        foreach (var marker in Markers)
        {
            if (buffer.AsSpan(index).StartsWith(marker, StringComparison.Ordinal))
            {
                return marker;
            }
        }

        return null;
    }

    private void FlushPending()
    {
        if (pending.Length > 0)
        {
            var text = pending.ToString();
            pending.Clear();
            HandleText(text, 0, text.Length);
        }
    }

    private void HandleText(string source, int start, int end)
    {
        if (end <= start)
        {
            return;
        }

        switch (mode)
        {
            case Mode.Content:
                Emit(new ContentDelta(source[start..end]));
                break;
            case Mode.Reasoning:
                Emit(new ReasoningDelta(source[start..end]));
                break;
            case Mode.ToolCall:
                toolCall.Append(source, start, end - start);
                break;
            case Mode.ChannelName:
                channelName.Append(source, start, end - start);
                ResolveChannelName(final: false, emitRest: true);
                break;
        }
    }

    private void HandleMarker(string marker)
    {
        if (mode == Mode.ChannelName)
        {
            ResolveChannelName(final: true, emitRest: true);
        }

        var stop = marker switch
        {
            Gemma4ControlTokens.TurnEnd => ChatOutputStop.EndOfTurn,
            Gemma4ControlTokens.ToolResponseStart => ChatOutputStop.ToolResponse,
            Gemma4ControlTokens.EndOfSequence => ChatOutputStop.EndOfSequence,
            _ => ChatOutputStop.None,
        };

        switch (mode)
        {
            case Mode.Content or Mode.Reasoning when stop != ChatOutputStop.None:
                End(stop);
                break;
            case Mode.Content when marker == Gemma4ControlTokens.ChannelStart:
                mode = Mode.ChannelName;
                break;
            case Mode.Reasoning when marker == Gemma4ControlTokens.ChannelEnd:
                mode = Mode.Content;
                break;
            case Mode.Content or Mode.Reasoning when marker == Gemma4ControlTokens.ToolCallStart:
                mode = Mode.ToolCall;
                break;
            case Mode.ToolCall when marker == Gemma4ControlTokens.ToolCallEnd:
                CompleteToolCall(terminated: true);
                mode = Mode.Content;
                break;
            case Mode.ToolCall when marker == Gemma4ControlTokens.ToolCallStart:
                CompleteToolCall(terminated: false);
                break;
            case Mode.ToolCall when stop != ChatOutputStop.None:
                CompleteToolCall(terminated: false);
                End(stop);
                break;
            case Mode.ToolCall:
                toolCall.Append(marker);
                break;
        }
    }

    /// <summary>
    /// Decides where the channel name ends: <c>thought</c> and one newline after it are dropped, text that
    /// could still become them waits (unless <paramref name="final"/>), and anything else is reasoning.
    /// </summary>
    private void ResolveChannelName(bool final, bool emitRest)
    {
        var name = channelName.ToString();
        string rest;
        if (name.StartsWith(ThoughtHeader, StringComparison.Ordinal))
        {
            rest = name[ThoughtHeader.Length..];
        }
        else if (!final && ThoughtHeader.StartsWith(name, StringComparison.Ordinal))
        {
            return;
        }
        else if (name.StartsWith(Gemma4ControlTokens.ThoughtChannelName, StringComparison.Ordinal))
        {
            rest = name[Gemma4ControlTokens.ThoughtChannelName.Length..];
        }
        else
        {
            rest = name;
        }

        channelName.Clear();
        mode = Mode.Reasoning;
        if (emitRest && rest.Length > 0)
        {
            Emit(new ReasoningDelta(rest));
        }
    }

    private void CompleteToolCall(bool terminated)
    {
        var text = toolCall.ToString();
        toolCall.Clear();
        if (!terminated)
        {
            Emit(new ToolCallCompleted(ToolCallParseResult.Failure(
                text, $"the tool call was cut off before {Gemma4ControlTokens.ToolCallEnd}")));
            return;
        }

        foreach (var result in Gemma4ToolCallParser.Parse(text))
        {
            Emit(new ToolCallCompleted(result));
        }
    }

    private void End(ChatOutputStop stop)
    {
        Stop = stop;
        mode = Mode.Ended;
        pending.Clear();
    }

    private void Emit(ChatOutputEvent item)
    {
        var merged = (events.Count > 0 ? events[^1] : null, item) switch
        {
            (ContentDelta previous, ContentDelta next) => new ContentDelta(previous.Text + next.Text),
            (ReasoningDelta previous, ReasoningDelta next) => new ReasoningDelta(previous.Text + next.Text),
            _ => (ChatOutputEvent?)null,
        };

        if (merged is null)
        {
            events.Add(item);
        }
        else
        {
            events[^1] = merged;
        }
    }
}
