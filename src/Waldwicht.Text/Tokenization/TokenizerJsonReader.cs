using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;

namespace Waldwicht.Text.Tokenization;

/// <summary>The parts of a tokenizer.json file, built into the internal pipeline objects.</summary>
internal sealed record TokenizerComponents(
    BpeModel Model,
    IReadOnlyList<AddedToken> AddedTokens,
    TextNormalizer? Normalizer,
    PreTokenizer? PreTokenizer,
    DecoderStep? Decoder,
    TemplatePostProcessor PostProcessor);

/// <summary>
/// Reads a Hugging Face tokenizer.json. Only the component types that Gemma tokenizers use are supported. Any other
/// type is rejected with an error that names it, because running without it would silently change the tokens.
/// </summary>
internal static class TokenizerJsonReader
{
    private const string SupportedNormalizers = "Replace, Prepend, Sequence";
    private const string SupportedPreTokenizers = "Split, Sequence";
    private const string SupportedDecoders = "Replace, ByteFallback, Fuse, Strip, Sequence";

    public static TokenizerComponents Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException("tokenizer.json: the file must contain a JSON object.");
        }

        // "truncation" and "padding" are ignored, as transformers does when it encodes a single text.
        var model = ReadModel(Required(root, "model", "tokenizer.json"));
        var normalizer = ReadNormalizer(Optional(root, "normalizer"), "normalizer");
        var preTokenizer = ReadPreTokenizer(Optional(root, "pre_tokenizer"), "pre_tokenizer");
        var decoder = ReadDecoder(Optional(root, "decoder"), "decoder");
        var addedTokens = ReadAddedTokens(Optional(root, "added_tokens"), model);
        var postProcessor = ReadPostProcessor(Optional(root, "post_processor"));
        return new TokenizerComponents(model, addedTokens, normalizer, preTokenizer, decoder, postProcessor);
    }

    private static BpeModel ReadModel(JsonElement model)
    {
        var type = model.TryGetProperty("type", out var typeElement) ? typeElement.GetString() : null;
        if (type != "BPE")
        {
            throw new NotSupportedException(
                $"tokenizer.json: model type '{type ?? "(missing)"}' is not supported; this tokenizer implements the BPE model that Gemma uses.");
        }

        var dropout = Optional(model, "dropout");
        if (dropout is { } dropoutValue && dropoutValue.GetDouble() != 0.0)
        {
            throw new NotSupportedException(
                $"tokenizer.json: model.dropout is {dropoutValue.GetDouble()}; BPE dropout makes encoding random and is not supported. Set it to null for inference.");
        }

        foreach (var affix in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
        {
            if (Optional(model, affix) is { } value && value.GetString() is { Length: > 0 } text)
            {
                throw new NotSupportedException($"tokenizer.json: model.{affix} '{text}' is not supported; Gemma tokenizers set it to null.");
            }
        }

        var vocabularyElement = Required(model, "vocab", "model");
        var vocabulary = new Dictionary<string, int>(StringComparer.Ordinal);
        vocabulary.EnsureCapacity(CountProperties(vocabularyElement));
        foreach (var entry in vocabularyElement.EnumerateObject())
        {
            vocabulary[entry.Name] = entry.Value.GetInt32();
        }

        var merges = ReadMerges(Required(model, "merges", "model"), vocabulary);
        return new BpeModel(
            vocabulary,
            merges,
            Optional(model, "unk_token")?.GetString(),
            Optional(model, "fuse_unk")?.GetBoolean() ?? false,
            Optional(model, "byte_fallback")?.GetBoolean() ?? false,
            Optional(model, "ignore_merges")?.GetBoolean() ?? false);
    }

    private static BpeModel.MergeTableBuilder ReadMerges(JsonElement merges, Dictionary<string, int> vocabulary)
    {
        var builder = new BpeModel.MergeTableBuilder(vocabulary, merges.GetArrayLength());
        char[] leftBuffer = new char[64], rightBuffer = new char[64];
        var rank = 0;
        foreach (var merge in merges.EnumerateArray())
        {
            if (merge.ValueKind == JsonValueKind.Array && merge.GetArrayLength() == 2
                && merge[0].ValueKind == JsonValueKind.String && merge[1].ValueKind == JsonValueKind.String)
            {
                builder.Add(ReadString(merge[0], ref leftBuffer), ReadString(merge[1], ref rightBuffer));
            }
            else if (merge.ValueKind == JsonValueKind.String && merge.GetString()!.Split(' ') is [var left, var right])
            {
                builder.Add(left, right);
            }
            else
            {
                throw new InvalidDataException(
                    $"tokenizer.json: merge {rank} is {merge.GetRawText()}; expected [\"left\", \"right\"] or the string \"left right\".");
            }

            rank++;
        }

        return builder;
    }

    /// <summary>
    /// Returns the text of a JSON string. Strings without escapes are transcoded into <paramref name="buffer"/>,
    /// which avoids a million string allocations when the 514,906 Gemma merges are read.
    /// </summary>
    private static ReadOnlySpan<char> ReadString(JsonElement element, ref char[] buffer)
    {
        var raw = JsonMarshal.GetRawUtf8Value(element)[1..^1];
        if (raw.Contains((byte)'\\'))
        {
            return element.GetString();
        }

        if (buffer.Length < raw.Length)
        {
            buffer = new char[raw.Length * 2];
        }

        var length = Encoding.UTF8.GetChars(raw, buffer);
        return buffer.AsSpan(0, length);
    }

    private static List<AddedToken> ReadAddedTokens(JsonElement? addedTokens, BpeModel model)
    {
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new List<AddedToken>();
        if (addedTokens is not { } array || array.ValueKind == JsonValueKind.Null)
        {
            return result;
        }

        // The Hugging Face library ignores the "id" field: a token whose text is in the model vocabulary takes the
        // model's id, and the others get consecutive ids from the number of model pieces on, in file order.
        var nextNewId = model.PieceCount;
        foreach (var element in array.EnumerateArray())
        {
            var content = Required(element, "content", "added_tokens entry").GetString() ?? string.Empty;
            if (content.Length == 0)
            {
                continue;
            }

            var id = model.TokenToId(content)
                ?? (byContent.TryGetValue(content, out var existing) ? result[existing].Id : nextNewId++);

            var token = new AddedToken(
                id,
                content,
                Special: Optional(element, "special")?.GetBoolean() ?? false,
                Normalized: Optional(element, "normalized")?.GetBoolean() ?? true,
                LeftStrip: Optional(element, "lstrip")?.GetBoolean() ?? false,
                RightStrip: Optional(element, "rstrip")?.GetBoolean() ?? false,
                SingleWord: Optional(element, "single_word")?.GetBoolean() ?? false);

            if (byContent.TryGetValue(content, out var index))
            {
                // A repeated entry replaces the flags of the earlier one, but a token once special stays special.
                result[index] = token with { Special = token.Special || result[index].Special };
            }
            else
            {
                byContent[content] = result.Count;
                result.Add(token);
            }
        }

        return result;
    }

    private static TextNormalizer? ReadNormalizer(JsonElement? element, string path)
    {
        if (element is not { ValueKind: JsonValueKind.Object } normalizer)
        {
            return null;
        }

        var type = TypeOf(normalizer, path);
        switch (type)
        {
            case "Replace":
                var (pattern, content) = ReadReplace(normalizer, path);
                return new ReplaceNormalizer(pattern, content);
            case "Prepend":
                return new PrependNormalizer(Required(normalizer, "prepend", path).GetString() ?? string.Empty);
            case "Sequence":
                var steps = Required(normalizer, "normalizers", path).EnumerateArray()
                    .Select((step, i) => ReadNormalizer(step, $"{path}.normalizers[{i}]"))
                    .OfType<TextNormalizer>()
                    .ToList();
                return new SequenceNormalizer(steps);
            default:
                throw Unsupported(path, type, SupportedNormalizers);
        }
    }

    private static PreTokenizer? ReadPreTokenizer(JsonElement? element, string path)
    {
        if (element is not { ValueKind: JsonValueKind.Object } preTokenizer)
        {
            return null;
        }

        var type = TypeOf(preTokenizer, path);
        switch (type)
        {
            case "Split":
                var pattern = ReadStringPattern(Required(preTokenizer, "pattern", path), path);
                var behaviorName = Required(preTokenizer, "behavior", path).GetString();
                if (!Enum.TryParse<SplitBehavior>(behaviorName, ignoreCase: false, out var behavior))
                {
                    throw new InvalidDataException(
                        $"tokenizer.json: {path}.behavior '{behaviorName}' is not a split behavior; expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous.");
                }

                return new SplitPreTokenizer(pattern, behavior, Optional(preTokenizer, "invert")?.GetBoolean() ?? false);
            case "Sequence":
                var steps = Required(preTokenizer, "pretokenizers", path).EnumerateArray()
                    .Select((step, i) => ReadPreTokenizer(step, $"{path}.pretokenizers[{i}]"))
                    .OfType<PreTokenizer>()
                    .ToList();
                return new SequencePreTokenizer(steps);
            default:
                throw Unsupported(path, type, SupportedPreTokenizers);
        }
    }

    private static DecoderStep? ReadDecoder(JsonElement? element, string path)
    {
        if (element is not { ValueKind: JsonValueKind.Object } decoder)
        {
            return null;
        }

        var type = TypeOf(decoder, path);
        switch (type)
        {
            case "Replace":
                var (pattern, content) = ReadReplace(decoder, path);
                return new ReplaceDecoder(pattern, content);
            case "ByteFallback":
                return new ByteFallbackDecoder();
            case "Fuse":
                return new FuseDecoder();
            case "Strip":
                var text = Required(decoder, "content", path).GetString() ?? string.Empty;
                if (Rune.DecodeFromUtf16(text, out var rune, out var consumed) != System.Buffers.OperationStatus.Done || consumed != text.Length)
                {
                    throw new InvalidDataException($"tokenizer.json: {path}.content must be exactly one character, not '{text}'.");
                }

                return new StripDecoder(rune, Required(decoder, "start", path).GetInt32(), Required(decoder, "stop", path).GetInt32());
            case "Sequence":
                var steps = Required(decoder, "decoders", path).EnumerateArray()
                    .Select((step, i) => ReadDecoder(step, $"{path}.decoders[{i}]"))
                    .OfType<DecoderStep>()
                    .ToList();
                return new SequenceDecoder(steps);
            default:
                throw Unsupported(path, type, SupportedDecoders);
        }
    }

    private static TemplatePostProcessor ReadPostProcessor(JsonElement? element)
    {
        if (element is not { ValueKind: JsonValueKind.Object } processor)
        {
            return TemplatePostProcessor.None;
        }

        var type = TypeOf(processor, "post_processor");
        if (type != "TemplateProcessing")
        {
            throw Unsupported("post_processor", type, "TemplateProcessing");
        }

        var specialTokens = new Dictionary<string, int[]>(StringComparer.Ordinal);
        if (Optional(processor, "special_tokens") is { ValueKind: JsonValueKind.Object } specials)
        {
            foreach (var special in specials.EnumerateObject())
            {
                specialTokens[special.Name] = Required(special.Value, "ids", $"post_processor.special_tokens.{special.Name}")
                    .EnumerateArray().Select(id => id.GetInt32()).ToArray();
            }
        }

        var prefix = new List<int>();
        var suffix = new List<int>();
        var sequenceCount = 0;
        foreach (var piece in Required(processor, "single", "post_processor").EnumerateArray())
        {
            if (piece.TryGetProperty("Sequence", out var sequence))
            {
                var sequenceId = Required(sequence, "id", "post_processor.single Sequence").GetString();
                if (sequenceId != "A")
                {
                    throw new InvalidDataException(
                        $"tokenizer.json: post_processor.single refers to sequence '{sequenceId}'; a single-sequence template can only contain sequence A.");
                }

                sequenceCount++;
            }
            else if (piece.TryGetProperty("SpecialToken", out var specialToken))
            {
                var name = Required(specialToken, "id", "post_processor.single SpecialToken").GetString() ?? string.Empty;
                if (!specialTokens.TryGetValue(name, out var ids))
                {
                    throw new InvalidDataException(
                        $"tokenizer.json: post_processor.single uses the special token '{name}', which post_processor.special_tokens does not define.");
                }

                (sequenceCount == 0 ? prefix : suffix).AddRange(ids);
            }
            else
            {
                throw new InvalidDataException(
                    $"tokenizer.json: post_processor.single contains {piece.GetRawText()}; expected Sequence or SpecialToken.");
            }
        }

        if (sequenceCount != 1)
        {
            throw new InvalidDataException("tokenizer.json: post_processor.single must contain the sequence A exactly once.");
        }

        return new TemplatePostProcessor(prefix, suffix);
    }

    private static (string Pattern, string Content) ReadReplace(JsonElement element, string path)
    {
        var pattern = ReadStringPattern(Required(element, "pattern", path), path);
        var content = Required(element, "content", path).GetString() ?? string.Empty;
        return (pattern, content);
    }

    private static string ReadStringPattern(JsonElement pattern, string path)
    {
        if (pattern.TryGetProperty("String", out var text) && text.GetString() is { Length: > 0 } value)
        {
            return value;
        }

        if (pattern.TryGetProperty("Regex", out var regex))
        {
            throw new NotSupportedException(
                $"tokenizer.json: {path}.pattern is the regular expression '{regex.GetString()}'; only string patterns are supported (Gemma uses string patterns).");
        }

        throw new InvalidDataException($"tokenizer.json: {path}.pattern is {pattern.GetRawText()}; expected {{\"String\": \"...\"}} with a non-empty string.");
    }

    private static string TypeOf(JsonElement element, string path) =>
        Required(element, "type", path).GetString() ?? "(null)";

    private static NotSupportedException Unsupported(string path, string type, string supported) =>
        new($"tokenizer.json: {path} type '{type}' is not supported (supported: {supported}). Gemma tokenizers use only these types.");

    private static JsonElement Required(JsonElement element, string name, string path)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            throw new InvalidDataException($"tokenizer.json: {path} has no \"{name}\" field.");
        }

        return value;
    }

    private static JsonElement? Optional(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null ? value : null;

    private static int CountProperties(JsonElement element)
    {
        var count = 0;
        foreach (var _ in element.EnumerateObject())
        {
            count++;
        }

        return count;
    }
}
