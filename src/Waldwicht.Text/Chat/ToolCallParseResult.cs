using System.Diagnostics.CodeAnalysis;

namespace Waldwicht.Text.Chat;

/// <summary>
/// Outcome of parsing one tool call written by the model: the function name and its arguments as compact JSON,
/// or the reason the text could not be parsed. Both carry the call text as generated.
/// </summary>
public sealed class ToolCallParseResult
{
    private ToolCallParseResult(string? name, string? argumentsJson, string rawText, string? error)
    {
        Name = name;
        ArgumentsJson = argumentsJson;
        RawText = rawText;
        Error = error;
    }

    /// <summary>True when the call was parsed; then <see cref="Name"/> and <see cref="ArgumentsJson"/> are set.</summary>
    [MemberNotNullWhen(true, nameof(Name), nameof(ArgumentsJson))]
    [MemberNotNullWhen(false, nameof(Error))]
    public bool Succeeded => Error is null;

    /// <summary>Function name, such as <c>get_weather</c> or <c>ns:tool.get-x</c>.</summary>
    public string? Name { get; }

    /// <summary>
    /// Arguments as a compact JSON object: keys in the order written, non-ASCII characters kept, numbers as
    /// written when they are valid JSON numbers.
    /// </summary>
    public string? ArgumentsJson { get; }

    /// <summary>The call text as generated, without the <c>&lt;|tool_call&gt;</c> and <c>&lt;tool_call|&gt;</c> markers.</summary>
    public string RawText { get; }

    /// <summary>Why parsing failed, with the offset into <see cref="RawText"/> where it failed; null on success.</summary>
    public string? Error { get; }

    public static ToolCallParseResult Success(string name, string argumentsJson, string rawText) =>
        new(name, argumentsJson, rawText, null);

    public static ToolCallParseResult Failure(string rawText, string error) =>
        new(null, null, rawText, error);

    public override string ToString() =>
        Succeeded ? $"{Name}({ArgumentsJson})" : $"unparsed tool call ({Error}): {RawText}";
}
