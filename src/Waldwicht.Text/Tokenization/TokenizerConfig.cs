using System.Text.Json;

namespace Waldwicht.Text.Tokenization;

/// <summary>The fields of a transformers tokenizer_config.json that change how the tokenizer encodes.</summary>
internal sealed record TokenizerConfig(
    string? BosToken,
    string? EosToken,
    string? PadToken,
    string? UnknownToken,
    bool? AddBosToken,
    bool? AddEosToken)
{
    public static readonly TokenizerConfig Empty = new(null, null, null, null, null, null);

    public static TokenizerConfig Read(string path)
    {
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidDataException($"{path} must contain a JSON object.");
            }

            return new TokenizerConfig(
                TokenName(root, "bos_token", path),
                TokenName(root, "eos_token", path),
                TokenName(root, "pad_token", path),
                TokenName(root, "unk_token", path),
                Flag(root, "add_bos_token", path),
                Flag(root, "add_eos_token", path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON: {e.Message}", e);
        }
    }

    // transformers writes a token either as its text or as an object with a "content" field.
    private static string? TokenName(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind == JsonValueKind.String)
        {
            return value.GetString();
        }

        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
        {
            return content.GetString();
        }

        throw new InvalidDataException($"{path}: \"{name}\" is {value.GetRawText()}; expected a string or an object with a \"content\" string.");
    }

    private static bool? Flag(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new InvalidDataException($"{path}: \"{name}\" is {value.GetRawText()}; expected true or false."),
        };
    }
}
