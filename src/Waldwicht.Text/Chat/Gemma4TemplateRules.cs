namespace Waldwicht.Text.Chat;

/// <summary>Which earlier assistant messages get their reasoning replayed as a closed thought channel.</summary>
internal enum ReasoningReplay
{
    /// <summary>Reasoning is never rendered.</summary>
    Never,

    /// <summary>Messages after the last user message that carry tool calls.</summary>
    AfterLastUserWithToolCalls,

    /// <summary>Messages after the last user message; with "preserve_thinking" also earlier ones with tool calls.</summary>
    AfterLastUser,
}

/// <summary>
/// The behaviours in which the Gemma 4 template revisions differ. One renderer reads these flags, so each
/// revision is a set of values rather than a separate code path.
/// </summary>
/// <remarks>
/// NOTE: the V2 and V3 values follow third-party copies of the later google templates (an E4B copy and an
/// E2B GGUF copy) and third-party descriptions of them, not google's E2B file at a pinned revision.
/// </remarks>
internal sealed record Gemma4TemplateRules
{
    /// <summary>Text written for thinking at the top of the system turn.</summary>
    public required string ThinkText { get; init; }

    /// <summary>A first system message given as parts renders each part's text trimmed plus one space.</summary>
    public required bool SystemPartsWithSpaces { get; init; }

    /// <summary>
    /// OpenAI "tool" messages render as tool responses inside the preceding model turn instead of as turns
    /// of their own, and an assistant message after another one continues the same model turn.
    /// </summary>
    public required bool FoldToolMessages { get; init; }

    /// <summary>A model turn that is continued by the next assistant message is not closed (balanced turn tags).</summary>
    public required bool BalancedTurns { get; init; }

    public required ReasoningReplay Reasoning { get; init; }

    /// <summary>Property declarations in the order description, enum, items, nullable, properties, required, type, with correct commas.</summary>
    public required bool CorrectedDeclarations { get; init; }

    /// <summary>How a JSON null is written in argument values ("None" from Python's str, or "null").</summary>
    public required string NullText { get; init; }

    /// <summary>Images and videos in content are padded by blank lines (<c>\n\n&lt;|image|&gt;\n\n</c>).</summary>
    public required bool PaddedMediaPlaceholders { get; init; }

    /// <summary>The part types "image_url" and "input_audio" render like "image" and "audio".</summary>
    public required bool MediaTypeAliases { get; init; }

    /// <summary>A media part in content counts as the last rendered item (which decides the generation prompt).</summary>
    public required bool MediaPartsCountAsLastItem { get; init; }

    /// <summary>String arguments are trimmed and lose one pair of outer braces before being written.</summary>
    public required bool UnwrapArgumentText { get; init; }

    /// <summary>An empty tool response name renders "unknown" (otherwise only a missing one does).</summary>
    public required bool EmptyNameIsUnknown { get; init; }

    /// <summary>After a tool response with thinking on, the generation prompt opens a thought channel.</summary>
    public required bool OpenThoughtAfterToolResponse { get; init; }

    public static Gemma4TemplateRules V1 { get; } = new()
    {
        ThinkText = Gemma4ControlTokens.Think,
        SystemPartsWithSpaces = false,
        FoldToolMessages = false,
        BalancedTurns = false,
        Reasoning = ReasoningReplay.Never,
        CorrectedDeclarations = false,
        NullText = "None",
        PaddedMediaPlaceholders = true,
        MediaTypeAliases = false,
        MediaPartsCountAsLastItem = true,
        UnwrapArgumentText = false,
        EmptyNameIsUnknown = false,
        OpenThoughtAfterToolResponse = false,
    };

    public static Gemma4TemplateRules V2 { get; } = V1 with
    {
        ThinkText = Gemma4ControlTokens.Think + "\n",
        SystemPartsWithSpaces = true,
        FoldToolMessages = true,
        Reasoning = ReasoningReplay.AfterLastUserWithToolCalls,
        CorrectedDeclarations = true,
        PaddedMediaPlaceholders = false,
    };

    public static Gemma4TemplateRules V3 { get; } = V2 with
    {
        BalancedTurns = true,
        Reasoning = ReasoningReplay.AfterLastUser,
        NullText = "null",
        MediaTypeAliases = true,
        MediaPartsCountAsLastItem = false,
        UnwrapArgumentText = true,
        EmptyNameIsUnknown = true,
        OpenThoughtAfterToolResponse = true,
    };

    public static Gemma4TemplateRules For(ChatTemplateVariant variant) => variant switch
    {
        ChatTemplateVariant.V1 => V1,
        ChatTemplateVariant.V2 => V2,
        ChatTemplateVariant.V3 => V3,
        _ => throw new ArgumentOutOfRangeException(nameof(variant), variant, "Unknown chat template variant; use V1, V2 or V3."),
    };
}
