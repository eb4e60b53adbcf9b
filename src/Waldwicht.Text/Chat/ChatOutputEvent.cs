namespace Waldwicht.Text.Chat;

/// <summary>A piece of classified model output, produced by <see cref="Gemma4OutputSplitter"/> as text arrives.</summary>
public abstract record ChatOutputEvent;

/// <summary>Content text of the reply (everything outside the thought channel and tool calls).</summary>
public sealed record ContentDelta(string Text) : ChatOutputEvent;

/// <summary>Text of the reply's thought channel.</summary>
public sealed record ReasoningDelta(string Text) : ChatOutputEvent;

/// <summary>A tool-call span was closed (or cut off), and this is one call parsed from it, or the failure to parse it.</summary>
public sealed record ToolCallCompleted(ToolCallParseResult Result) : ChatOutputEvent;

/// <summary>The control token that ended a reply.</summary>
public enum ChatOutputStop
{
    /// <summary>No end token was seen: the output stopped for another reason, such as the token limit.</summary>
    None,

    /// <summary><c>&lt;turn|&gt;</c>: the model ended its turn.</summary>
    EndOfTurn,

    /// <summary><c>&lt;|tool_response&gt;</c>: the model made its calls and waits for their results.</summary>
    ToolResponse,

    /// <summary><c>&lt;eos&gt;</c>.</summary>
    EndOfSequence,
}

/// <summary>A whole reply split into content, reasoning and tool calls.</summary>
/// <param name="Content">Content text, not trimmed; empty when there is none.</param>
/// <param name="Reasoning">Thought channel text without the channel name and the newline after it; empty when there is none.</param>
/// <param name="ToolCalls">Every tool call in order, parsed or failed.</param>
/// <param name="Stop">The end token that ended the reply, if any.</param>
public sealed record ChatOutput(string Content, string Reasoning, IReadOnlyList<ToolCallParseResult> ToolCalls, ChatOutputStop Stop)
{
    /// <summary>Collects the events of one reply.</summary>
    public static ChatOutput FromEvents(IEnumerable<ChatOutputEvent> events, ChatOutputStop stop)
    {
        ArgumentNullException.ThrowIfNull(events);
        var content = new System.Text.StringBuilder();
        var reasoning = new System.Text.StringBuilder();
        var calls = new List<ToolCallParseResult>();
        foreach (var item in events)
        {
            switch (item)
            {
                case ContentDelta delta:
                    content.Append(delta.Text);
                    break;
                case ReasoningDelta delta:
                    reasoning.Append(delta.Text);
                    break;
                case ToolCallCompleted call:
                    calls.Add(call.Result);
                    break;
            }
        }

        return new ChatOutput(content.ToString(), reasoning.ToString(), calls, stop);
    }
}
