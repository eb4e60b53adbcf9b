using System.Text.Json;
using System.Text.RegularExpressions;
using Waldwicht.Formats.Gguf;
using Waldwicht.Text.Chat;

namespace Waldwicht.Model.Export;

/// <summary>
/// Builds the tokenizer.* metadata of a Gemma 4 GGUF file from a model folder's tokenizer.json,
/// tokenizer_config.json and chat template, following llama.cpp's converter for Gemma 4
/// (Gemma4Model.set_vocab in conversion/gemma.py, gguf-py's LlamaHfVocab and SpecialVocab).
/// </summary>
/// <remarks>
/// llama.cpp loads tokenizer model "gemma4" as a BPE vocabulary with merges (src/llama-vocab.cpp).
/// Token types follow LlamaHfVocab: &lt;0xHH&gt; pieces are BYTE, special tokens CONTROL and the rest
/// NORMAL, and scores are all −1000. The converter then marks the channel, tool-call and string
/// delimiter tokens USER_DEFINED so that llama.cpp renders them as text for its chat parser.
/// </remarks>
internal static partial class GgufTokenizerMetadata
{
    // gguf-py TokenType values (enum llama_token_type in llama.cpp).
    private const int Normal = 1;
    private const int Control = 3;
    private const int UserDefined = 4;
    private const int Unused = 5;
    private const int Byte = 6;

    // The score LlamaHfVocab writes for every token of a tokenizer.json vocabulary.
    private const float PlaceholderScore = -1000f;

    private static readonly HashSet<string> VisibleTokens =
    [
        "<|channel>", "<channel|>", "<|tool_call>", "<tool_call|>", "<|tool_response>", "<tool_response|>", "<|\"|>",
    ];

    // Special token kinds that SpecialVocab writes, with their GGUF key.
    private static readonly (string Kind, string Key)[] SpecialIdKeys =
    [
        ("bos", "tokenizer.ggml.bos_token_id"),
        ("eos", "tokenizer.ggml.eos_token_id"),
        ("unk", "tokenizer.ggml.unknown_token_id"),
        ("sep", "tokenizer.ggml.seperator_token_id"),
        ("pad", "tokenizer.ggml.padding_token_id"),
        ("cls", "tokenizer.ggml.cls_token_id"),
        ("mask", "tokenizer.ggml.mask_token_id"),
    ];

    /// <summary>Reads the tokenizer files of <paramref name="modelDirectory"/> and returns the metadata entries.</summary>
    /// <param name="embeddingRows">Rows of the token embedding; llama.cpp needs exactly this many tokens.</param>
    /// <param name="warnings">Receives notes about padded or unusual vocabularies.</param>
    /// <exception cref="ModelFormatException">tokenizer.json is missing, not BPE, or has more tokens than the embedding.</exception>
    public static List<KeyValuePair<string, GgufValue>> Read(string modelDirectory, int embeddingRows, List<string> warnings)
    {
        string tokenizerPath = Path.Combine(modelDirectory, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
        {
            throw new ModelFormatException(
                $"tokenizer.json not found in {modelDirectory}; the GGUF export needs the model's tokenizer.json for the tokenizer metadata.");
        }

        using var tokenizer = ParseJson(tokenizerPath);
        using var tokenizerConfig = File.Exists(Path.Combine(modelDirectory, "tokenizer_config.json"))
            ? ParseJson(Path.Combine(modelDirectory, "tokenizer_config.json"))
            : null;
        var root = tokenizer.RootElement;
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException($"{tokenizerPath} has no 'model' object.");
        }

        string modelType = model.TryGetProperty("type", out var typeElement) ? typeElement.GetString() ?? "" : "";
        if (modelType != "BPE")
        {
            throw new ModelFormatException(
                $"{tokenizerPath} has a '{modelType}' model; the Gemma 4 GGUF tokenizer needs a BPE tokenizer.json.");
        }

        var added = ReadAddedTokens(root);
        var tokens = ReadVocabulary(model, added, tokenizerPath);
        if (tokens.Count > embeddingRows)
        {
            throw new ModelFormatException(
                $"tokenizer.json defines {tokens.Count} tokens but the embedding has {embeddingRows} rows; llama.cpp needs one embedding row per token.");
        }

        var types = new int[embeddingRows];
        var texts = new string[embeddingRows];
        var specialIds = SpecialTokenIds(added, tokenizerConfig?.RootElement);
        int padded = 0;
        for (int id = 0; id < embeddingRows; id++)
        {
            string? text = id < tokens.Count ? tokens[id] : null;
            if (text == null)
            {
                texts[id] = $"[PAD{id}]";
                types[id] = Unused;
                padded++;
                continue;
            }

            texts[id] = text;
            types[id] = ByteToken().IsMatch(text) ? Byte
                : VisibleTokens.Contains(text) ? UserDefined
                : specialIds.Contains(id) ? Control
                : Normal;
        }

        if (padded > 0)
        {
            warnings.Add($"The vocabulary has {padded} id(s) without a token (the embedding has {embeddingRows} rows); they are written as unused [PADn] tokens.");
        }

        var entries = new List<KeyValuePair<string, GgufValue>>
        {
            new("tokenizer.ggml.model", GgufValue.String("gemma4")),
            new("tokenizer.ggml.tokens", GgufValue.StringArray(texts)),
            new("tokenizer.ggml.scores", GgufValue.Float32Array(Enumerable.Repeat(PlaceholderScore, embeddingRows))),
            new("tokenizer.ggml.token_type", GgufValue.Int32Array(types)),
        };

        var merges = ReadMerges(model);
        if (merges.Count == 0)
        {
            warnings.Add("tokenizer.json has no merges; llama.cpp will tokenize text into single characters.");
        }
        else
        {
            entries.Add(new("tokenizer.ggml.merges", GgufValue.StringArray(merges)));
        }

        AddSpecialTokens(entries, added, tokenizerConfig?.RootElement, modelDirectory, embeddingRows);
        // The same template that the chat engine renders: chat_template.jinja, else chat_template.json, else
        // tokenizer_config.json (a string, or the "default" entry of a list of named templates).
        string? template;
        try
        {
            template = Gemma4ChatTemplate.ReadTemplateText(modelDirectory);
        }
        catch (InvalidDataException ex)
        {
            throw new ModelFormatException(ex.Message, ex);
        }

        if (template != null)
        {
            entries.Add(new("tokenizer.chat_template", GgufValue.String(template)));
        }

        return entries;
    }

    private static List<(int Id, string Content, bool Special)> ReadAddedTokens(JsonElement root)
    {
        var result = new List<(int, string, bool)>();
        if (!root.TryGetProperty("added_tokens", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return result;
        }

        foreach (var item in list.EnumerateArray())
        {
            if (item.TryGetProperty("id", out var id) && id.TryGetInt32(out int value)
                && item.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            {
                bool special = item.TryGetProperty("special", out var flag) && flag.ValueKind == JsonValueKind.True;
                result.Add((value, content.GetString()!, special));
            }
        }

        return result;
    }

    // Token text by id: the BPE vocabulary plus added tokens that lie outside it; gaps stay null.
    private static List<string?> ReadVocabulary(JsonElement model, List<(int Id, string Content, bool Special)> added, string path)
    {
        if (!model.TryGetProperty("vocab", out var vocab) || vocab.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException($"{path} has no model.vocab object.");
        }

        var tokens = new List<string?>();
        void Set(int id, string text)
        {
            if (id < 0)
            {
                throw new ModelFormatException($"{path} gives token '{text}' the negative id {id}.");
            }

            while (tokens.Count <= id)
            {
                tokens.Add(null);
            }

            tokens[id] ??= text;
        }

        foreach (var entry in vocab.EnumerateObject())
        {
            Set(entry.Value.GetInt32(), entry.Name);
        }

        foreach (var (id, content, _) in added)
        {
            Set(id, content);
        }

        return tokens;
    }

    // Ids of added tokens flagged special plus the named special tokens of tokenizer_config.json
    // (the ids that transformers lists in all_special_ids).
    private static HashSet<int> SpecialTokenIds(List<(int Id, string Content, bool Special)> added, JsonElement? config)
    {
        var ids = added.Where(a => a.Special).Select(a => a.Id).ToHashSet();
        if (config is not { ValueKind: JsonValueKind.Object } settings)
        {
            return ids;
        }

        var names = new List<string>();
        foreach (var property in settings.EnumerateObject())
        {
            if (property.Name.EndsWith("_token", StringComparison.Ordinal) && TokenContent(property.Value) is string content)
            {
                names.Add(content);
            }
        }

        foreach (string listName in new[] { "extra_special_tokens", "additional_special_tokens" })
        {
            if (!settings.TryGetProperty(listName, out var list))
            {
                continue;
            }

            var values = list.ValueKind switch
            {
                JsonValueKind.Object => list.EnumerateObject().Select(p => p.Value),
                JsonValueKind.Array => list.EnumerateArray(),
                _ => [],
            };
            names.AddRange(values.Select(TokenContent).OfType<string>());
        }

        foreach (string name in names)
        {
            foreach (var (id, content, _) in added)
            {
                if (content == name)
                {
                    ids.Add(id);
                }
            }
        }

        return ids;
    }

    private static string? TokenContent(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString(),
        JsonValueKind.Object when value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String => content.GetString(),
        _ => null,
    };

    // Merges as "left right" strings. The list-of-pairs form of newer tokenizer.json files may
    // contain spaces inside a piece; gguf-py encodes each such space as U+0120, and so does this.
    private static List<string> ReadMerges(JsonElement model)
    {
        var merges = new List<string>();
        if (!model.TryGetProperty("merges", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            return merges;
        }

        foreach (var item in list.EnumerateArray())
        {
            if (item.ValueKind == JsonValueKind.String)
            {
                merges.Add(item.GetString()!);
            }
            else if (item.ValueKind == JsonValueKind.Array && item.GetArrayLength() == 2)
            {
                string left = item[0].GetString()!.Replace(' ', '\u0120');
                string right = item[1].GetString()!.Replace(' ', '\u0120');
                merges.Add(left + " " + right);
            }
            else
            {
                throw new ModelFormatException($"tokenizer.json has a merge entry of kind {item.ValueKind}; expected a string or a pair of strings.");
            }
        }

        return merges;
    }

    private static void AddSpecialTokens(
        List<KeyValuePair<string, GgufValue>> entries, List<(int Id, string Content, bool Special)> added, JsonElement? config, string modelDirectory, int vocabulary)
    {
        var configJson = ReadConfigJson(modelDirectory);
        foreach (var (kind, key) in SpecialIdKeys)
        {
            int? id = null;
            if (config is { ValueKind: JsonValueKind.Object } settings && settings.TryGetProperty($"{kind}_token", out var value)
                && TokenContent(value) is string content)
            {
                id = added.Where(a => a.Content == content).Select(a => (int?)a.Id).FirstOrDefault();
            }

            if (id == null && configJson is { } rootConfig && rootConfig.TryGetProperty($"{kind}_token_id", out var fromConfig)
                && fromConfig.ValueKind == JsonValueKind.Number && fromConfig.TryGetInt32(out int configId))
            {
                id = configId;
            }

            if (id is int tokenId && tokenId >= 0 && tokenId < vocabulary)
            {
                entries.Add(new(key, GgufValue.UInt32((uint)tokenId)));
            }
        }

        // The Gemma 4 converter always sets add_bos_token and takes add_eos_token from tokenizer_config.json.
        entries.Add(new("tokenizer.ggml.add_bos_token", GgufValue.Bool(true)));
        if (config is { ValueKind: JsonValueKind.Object } tokenizerSettings && tokenizerSettings.TryGetProperty("add_eos_token", out var addEos)
            && addEos.ValueKind is JsonValueKind.True or JsonValueKind.False)
        {
            entries.Add(new("tokenizer.ggml.add_eos_token", GgufValue.Bool(addEos.GetBoolean())));
        }

        entries.Add(new("tokenizer.ggml.add_space_prefix", GgufValue.Bool(false)));
    }

    private static JsonElement? ReadConfigJson(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, "config.json");
        if (!File.Exists(path))
        {
            return null;
        }

        using var document = ParseJson(path);
        return document.RootElement.Clone();
    }

    private static JsonDocument ParseJson(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException($"{path} is not valid JSON: {ex.Message}", ex);
        }
    }

    [GeneratedRegex("^<0x[0-9A-Fa-f]{2}>$")]
    private static partial Regex ByteToken();
}
