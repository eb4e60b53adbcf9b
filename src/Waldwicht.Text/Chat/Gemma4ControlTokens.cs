namespace Waldwicht.Text.Chat;

/// <summary>
/// Literal text of the Gemma 4 control tokens as they appear in rendered prompts and in decoded output
/// (the tokenizer renders special tokens as their text).
/// </summary>
public static class Gemma4ControlTokens
{
    public const string Pad = "<pad>";
    public const string EndOfSequence = "<eos>";
    public const string BeginningOfSequence = "<bos>";
    public const string Unknown = "<unk>";
    public const string Mask = "<mask>";

    /// <summary>Opens a tool declaration in the system turn.</summary>
    public const string ToolStart = "<|tool>";

    /// <summary>Closes a tool declaration.</summary>
    public const string ToolEnd = "<tool|>";

    /// <summary>Opens a tool call written by the model.</summary>
    public const string ToolCallStart = "<|tool_call>";

    /// <summary>Closes a tool call.</summary>
    public const string ToolCallEnd = "<tool_call|>";

    /// <summary>Opens a tool result; the model also emits it as a stop token after its calls.</summary>
    public const string ToolResponseStart = "<|tool_response>";

    /// <summary>Closes a tool result.</summary>
    public const string ToolResponseEnd = "<tool_response|>";

    /// <summary>Delimits strings inside declarations, calls and responses (no escaping inside).</summary>
    public const string StringDelimiter = "<|\"|>";

    /// <summary>Switches thinking on when placed in the system turn.</summary>
    public const string Think = "<|think|>";

    /// <summary>Opens a channel; the model writes <c>&lt;|channel&gt;thought\n…&lt;channel|&gt;</c> for its reasoning.</summary>
    public const string ChannelStart = "<|channel>";

    /// <summary>Closes a channel.</summary>
    public const string ChannelEnd = "<channel|>";

    /// <summary>Name of the reasoning channel, written as plain text right after <see cref="ChannelStart"/>.</summary>
    public const string ThoughtChannelName = "thought";

    /// <summary>Opens a turn; the role name and a newline follow as plain text.</summary>
    public const string TurnStart = "<|turn>";

    /// <summary>Closes a turn; the normal stop token of a reply.</summary>
    public const string TurnEnd = "<turn|>";

    public const string ImageStart = "<|image>";
    public const string ImageEnd = "<image|>";
    public const string AudioStart = "<|audio>";
    public const string AudioEnd = "<audio|>";
    public const string ImagePlaceholder = "<|image|>";
    public const string AudioPlaceholder = "<|audio|>";
    public const string VideoPlaceholder = "<|video|>";

    /// <summary>Every control token above, which never reaches reply content.</summary>
    public static IReadOnlyList<string> All { get; } =
    [
        Pad, EndOfSequence, BeginningOfSequence, Unknown, Mask,
        ToolStart, ToolEnd, ToolCallStart, ToolCallEnd, ToolResponseStart, ToolResponseEnd, StringDelimiter,
        Think, ChannelStart, ChannelEnd, TurnStart, TurnEnd,
        ImageStart, ImageEnd, AudioStart, AudioEnd, ImagePlaceholder, AudioPlaceholder, VideoPlaceholder,
    ];
}
