namespace Waldwicht.Text.Chat;

/// <summary>Revision of the Gemma 4 chat template that a model ships.</summary>
public enum ChatTemplateVariant
{
    /// <summary>
    /// The first release, shipped by Waldwicht models: no newline after the think token, OpenAI tool
    /// messages as plain "tool" turns, and the array and object declaration quirks kept as they are.
    /// </summary>
    V1,

    /// <summary>
    /// A later revision: think token followed by a newline, OpenAI tool messages folded into the model turn,
    /// replayed reasoning before tool calls, and corrected declaration formatting.
    /// </summary>
    V2,

    /// <summary>
    /// V2 plus null handling (JSON null renders "null"), balanced turn tags, and an open thought channel as
    /// generation prompt after a tool response when thinking is on.
    /// </summary>
    V3,
}

/// <summary>Settings for one rendering of a conversation.</summary>
public sealed record ChatRenderOptions
{
    /// <summary>Appends the header of the model turn (normally <c>&lt;|turn&gt;model\n</c>). Defaults to true.</summary>
    public bool AddGenerationPrompt { get; init; } = true;

    /// <summary>
    /// Puts the think token into the system turn ("enable_thinking"). Defaults to false, as the template
    /// does; a server decides its own default.
    /// </summary>
    public bool EnableThinking { get; init; }

    /// <summary>
    /// V3 only ("preserve_thinking"): also replays the reasoning of assistant messages with tool calls that
    /// come before the last user message.
    /// </summary>
    public bool PreserveThinking { get; init; }

    /// <summary>Template revision to render. Defaults to <see cref="ChatTemplateVariant.V1"/>.</summary>
    public ChatTemplateVariant Variant { get; init; } = ChatTemplateVariant.V1;
}
