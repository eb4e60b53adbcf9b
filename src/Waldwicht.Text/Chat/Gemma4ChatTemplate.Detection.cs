using System.Text.Json;

namespace Waldwicht.Text.Chat;

public static partial class Gemma4ChatTemplate
{
    /// <summary>Fragments (whitespace removed) that only the V3 template contains.</summary>
    private static readonly string[] V3Fragments =
    [
        "elifns.prev_message_type=='tool_response'andenable_thinking",
        "continues_into_next",
        "preserve_thinking",
    ];

    /// <summary>Fragments (whitespace removed) that V2 introduced and V3 kept.</summary>
    private static readonly string[] V2Fragments =
    [
        "format_tool_response_block",
        "continue_same_model_turn",
        "'<|think|>\\n'",
        "filter_keys",
    ];

    /// <summary>
    /// Guesses the revision of a Gemma 4 chat template from fragments that only later revisions contain.
    /// </summary>
    /// <param name="templateText">The Jinja source; null or empty when the model ships none.</param>
    /// <returns><see cref="ChatTemplateVariant.V1"/> for the first revision, for an unknown template and for none.</returns>
    public static ChatTemplateVariant DetectVariant(string? templateText)
    {
        if (string.IsNullOrEmpty(templateText))
        {
            return ChatTemplateVariant.V1;
        }

        var compact = string.Concat(templateText.Where(c => !char.IsWhiteSpace(c)));
        if (V3Fragments.Any(f => compact.Contains(f, StringComparison.Ordinal)))
        {
            return ChatTemplateVariant.V3;
        }

        if (V2Fragments.Any(f => compact.Contains(f, StringComparison.Ordinal)))
        {
            return ChatTemplateVariant.V2;
        }

        return ChatTemplateVariant.V1;
    }

    /// <summary>
    /// Guesses the template revision of a model folder from its chat template: <c>chat_template.jinja</c>, else
    /// the "chat_template" of <c>chat_template.json</c>, else that of <c>tokenizer_config.json</c> (a string,
    /// or a list of named templates of which "default" or else the first is used). Defaults to V1.
    /// </summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A JSON file in the folder is not valid JSON.</exception>
    public static ChatTemplateVariant DetectVariantFromModelFolder(string modelFolder)
    {
        ArgumentNullException.ThrowIfNull(modelFolder);
        return DetectVariant(ReadTemplateText(modelFolder));
    }

    /// <summary>Reads the chat template text of a model folder as <see cref="DetectVariantFromModelFolder"/> describes, or null.</summary>
    /// <exception cref="DirectoryNotFoundException">The folder does not exist.</exception>
    /// <exception cref="InvalidDataException">A JSON file in the folder is not valid JSON.</exception>
    public static string? ReadTemplateText(string modelFolder)
    {
        ArgumentNullException.ThrowIfNull(modelFolder);
        if (!Directory.Exists(modelFolder))
        {
            throw new DirectoryNotFoundException($"Model folder '{modelFolder}' does not exist; pass the folder that contains config.json and the tokenizer files.");
        }

        var jinja = Path.Combine(modelFolder, "chat_template.jinja");
        if (File.Exists(jinja))
        {
            return File.ReadAllText(jinja);
        }

        foreach (var name in new[] { "chat_template.json", "tokenizer_config.json" })
        {
            var path = Path.Combine(modelFolder, name);
            if (File.Exists(path) && TemplateFromJson(path) is { } text)
            {
                return text;
            }
        }

        return null;
    }

    private static string? TemplateFromJson(string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"'{path}' is not valid JSON ({e.Message}); repair or replace the file.", e);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("chat_template", out var template))
            {
                return null;
            }

            if (template.ValueKind == JsonValueKind.String)
            {
                return template.GetString();
            }

            if (template.ValueKind != JsonValueKind.Array)
            {
                return null;
            }

            // Named templates: [{"name": "default", "template": "…"}, {"name": "tool_use", …}].
            string? first = null;
            foreach (var entry in template.EnumerateArray())
            {
                if (entry.ValueKind != JsonValueKind.Object
                    || !entry.TryGetProperty("template", out var text) || text.ValueKind != JsonValueKind.String)
                {
                    continue;
                }

                if (entry.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String && name.GetString() == "default")
                {
                    return text.GetString();
                }

                first ??= text.GetString();
            }

            return first;
        }
    }
}
