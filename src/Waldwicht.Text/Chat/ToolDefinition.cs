using System.Text.Json.Nodes;

namespace Waldwicht.Text.Chat;

/// <summary>
/// A function the model may call: the "function" object of an OpenAI tool entry.
/// </summary>
/// <param name="Name">Function name.</param>
/// <param name="Description">What the function does; null renders an empty description.</param>
/// <param name="Parameters">JSON schema of the argument object ("type", "properties", "required", …), or null.</param>
/// <param name="Response">Optional JSON schema of the result ("description", "type"), or null.</param>
public sealed record ToolDefinition(
    string Name,
    string? Description,
    JsonObject? Parameters = null,
    JsonObject? Response = null)
{
    /// <summary>Function name.</summary>
    public string Name { get; init; } = Name ?? throw new ArgumentNullException(nameof(Name));
}
