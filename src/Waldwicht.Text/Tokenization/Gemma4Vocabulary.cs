using System.Text.Encodings.Web;
using System.Text.Json;

namespace Waldwicht.Text.Tokenization;

/// <summary>
/// Builds a Gemma 4 tokenizer.json from a Gemma 3 one. Gemma 4 keeps Gemma 3's 262,144 pieces, ids and merges.
/// It renames the control tokens (reserved <c>&lt;unusedN&gt;</c> pieces and the turn markers of Gemma 3) and the
/// media markers, and the renamed tokens are special.
/// </summary>
public static class Gemma4Vocabulary
{
    /// <summary>Size of the Gemma 3 and Gemma 4 vocabularies (the embedding rows of the models).</summary>
    public const int Size = 262_144;

    /// <summary>The renamed tokens: id, Gemma 3 name, Gemma 4 name.</summary>
    public static IReadOnlyList<(int Id, string Gemma3Name, string Gemma4Name)> Renames { get; } =
    [
        (46, "<unused40>", "<|tool>"),
        (47, "<unused41>", "<tool|>"),
        (48, "<unused42>", "<|tool_call>"),
        (49, "<unused43>", "<tool_call|>"),
        (50, "<unused44>", "<|tool_response>"),
        (51, "<unused45>", "<tool_response|>"),
        (52, "<unused46>", "<|\"|>"),
        (98, "<unused92>", "<|think|>"),
        (100, "<unused94>", "<|channel>"),
        (101, "<unused95>", "<channel|>"),
        (105, "<start_of_turn>", "<|turn>"),
        (106, "<end_of_turn>", "<turn|>"),
        // NOTE: the media names and ids below come from Gemma 4 processor code in other projects, not from a published
        // Gemma 4 tokenizer.json. Text generation never uses them.
        (255999, "<start_of_image>", "<|image>"),
        (256000, "<end_of_image>", "<|audio>"),
        (258880, "<unused2978>", "<|image|>"),
        (258881, "<unused2979>", "<|audio|>"),
        (258882, "<unused2980>", "<image|>"),
        (258883, "<unused2981>", "<audio|>"),
        (258884, "<unused2982>", "<|video|>"),
    ];

    /// <summary>
    /// Converts the Gemma 3 tokenizer.json at <paramref name="gemma3TokenizerJsonPath"/> and writes the Gemma 4 file
    /// to <paramref name="gemma4TokenizerJsonPath"/> (its folder is created when missing).
    /// </summary>
    public static void FromGemma3File(string gemma3TokenizerJsonPath, string gemma4TokenizerJsonPath)
    {
        ArgumentNullException.ThrowIfNull(gemma3TokenizerJsonPath);
        ArgumentNullException.ThrowIfNull(gemma4TokenizerJsonPath);
        if (!File.Exists(gemma3TokenizerJsonPath))
        {
            throw new FileNotFoundException($"Gemma 3 tokenizer.json not found: {gemma3TokenizerJsonPath}.", gemma3TokenizerJsonPath);
        }

        var converted = FromGemma3(File.ReadAllBytes(gemma3TokenizerJsonPath));
        var folder = Path.GetDirectoryName(Path.GetFullPath(gemma4TokenizerJsonPath));
        if (!string.IsNullOrEmpty(folder))
        {
            Directory.CreateDirectory(folder);
        }

        // Write to a temporary file first so that an interrupted run never leaves a truncated tokenizer.json.
        var temporary = gemma4TokenizerJsonPath + ".tmp";
        File.WriteAllBytes(temporary, converted);
        File.Move(temporary, gemma4TokenizerJsonPath, overwrite: true);
    }

    /// <summary>
    /// Converts the UTF-8 bytes of a Gemma 3 tokenizer.json to a Gemma 4 tokenizer.json: renames the tokens of
    /// <see cref="Renames"/> in the model vocabulary and in added_tokens, marks them special, and drops added tokens
    /// whose id lies outside the 262,144-piece vocabulary (Gemma 3's &lt;image_soft_token&gt;, id 262144).
    /// </summary>
    /// <exception cref="InvalidDataException">The input is not a Gemma 3 tokenizer.json (wrong size or names).</exception>
    public static byte[] FromGemma3(ReadOnlyMemory<byte> gemma3TokenizerJson)
    {
        using var document = JsonDocument.Parse(gemma3TokenizerJson, new JsonDocumentOptions { MaxDepth = 256 });
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object
            || !model.TryGetProperty("vocab", out var vocabulary) || vocabulary.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException("The Gemma 3 tokenizer.json has no \"model.vocab\" object; pass the tokenizer.json of a Gemma 3 model.");
        }

        var gemma3Ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var pieceCount = 0;
        foreach (var piece in vocabulary.EnumerateObject())
        {
            pieceCount++;
            gemma3Ids[piece.Name] = piece.Value.GetInt32();
        }

        if (pieceCount != Size)
        {
            throw new InvalidDataException(
                $"The Gemma 3 tokenizer.json has {pieceCount} pieces; a Gemma 3 vocabulary has {Size}. Pass the tokenizer.json of a Gemma 3 model.");
        }

        foreach (var (id, gemma3Name, _) in Renames)
        {
            if (!gemma3Ids.TryGetValue(gemma3Name, out var actual) || actual != id)
            {
                throw new InvalidDataException(
                    $"The Gemma 3 tokenizer.json does not map '{gemma3Name}' to id {id}; this is not the Gemma 3 vocabulary the conversion expects.");
            }
        }

        var newNames = Renames.ToDictionary(r => r.Gemma3Name, r => r.Gemma4Name, StringComparer.Ordinal);
        var renamedIds = Renames.Select(r => r.Id).ToHashSet();
        var output = new MemoryStream(gemma3TokenizerJson.Length + 1024);
        using (var writer = new Utf8JsonWriter(output, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            foreach (var property in root.EnumerateObject())
            {
                writer.WritePropertyName(property.Name);
                switch (property.Name)
                {
                    case "model":
                        WriteModel(writer, property.Value, newNames);
                        break;
                    case "added_tokens" when property.Value.ValueKind == JsonValueKind.Array:
                        WriteAddedTokens(writer, property.Value, newNames, renamedIds);
                        break;
                    default:
                        property.Value.WriteTo(writer);
                        break;
                }
            }

            writer.WriteEndObject();
        }

        return output.ToArray();
    }

    private static void WriteModel(Utf8JsonWriter writer, JsonElement model, Dictionary<string, string> newNames)
    {
        writer.WriteStartObject();
        foreach (var property in model.EnumerateObject())
        {
            if (property.Name != "vocab")
            {
                property.WriteTo(writer);
                continue;
            }

            writer.WriteStartObject("vocab");
            foreach (var piece in property.Value.EnumerateObject())
            {
                writer.WritePropertyName(newNames.GetValueOrDefault(piece.Name, piece.Name));
                piece.Value.WriteTo(writer);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndObject();
    }

    private static void WriteAddedTokens(
        Utf8JsonWriter writer, JsonElement addedTokens, Dictionary<string, string> newNames, HashSet<int> renamedIds)
    {
        writer.WriteStartArray();
        foreach (var token in addedTokens.EnumerateArray())
        {
            if (token.ValueKind != JsonValueKind.Object || !token.TryGetProperty("id", out var idElement) || idElement.GetInt32() >= Size)
            {
                continue;
            }

            if (!renamedIds.Contains(idElement.GetInt32()))
            {
                token.WriteTo(writer);
                continue;
            }

            writer.WriteStartObject();
            foreach (var property in token.EnumerateObject())
            {
                switch (property.Name)
                {
                    case "content":
                        var content = property.Value.GetString() ?? string.Empty;
                        writer.WriteString("content", newNames.GetValueOrDefault(content, content));
                        break;
                    case "special":
                        writer.WriteBoolean("special", true);
                        break;
                    default:
                        property.WriteTo(writer);
                        break;
                }
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }
}
