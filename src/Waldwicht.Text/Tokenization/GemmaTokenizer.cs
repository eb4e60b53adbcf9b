using System.Text;
using System.Text.Json;

namespace Waldwicht.Text.Tokenization;

/// <summary>
/// The Gemma tokenizer, loaded from a Hugging Face tokenizer.json. It gives the same tokens as the Hugging Face
/// tokenizers library (Rust, version 0.22). Added tokens are matched in the raw text first (the longest match at the
/// leftmost position). The remaining text is normalized (Gemma: space to U+2581), pre-tokenized and encoded by a
/// byte-pair model with byte fallback. A template post-processor then adds &lt;bos&gt;.
/// </summary>
/// <remarks>
/// The supported component types are those Gemma tokenizers use. The model is BPE. Normalizers are Replace, Prepend
/// and Sequence, and pre-tokenizers Split and Sequence, with string patterns. Decoders are Replace, ByteFallback,
/// Fuse, Strip and Sequence, and the post-processor is TemplateProcessing. Loading any other type fails with
/// <see cref="NotSupportedException"/>. Instances are immutable and safe to use from several threads at once.
/// </remarks>
public sealed class GemmaTokenizer
{
    private readonly BpeModel model;
    private readonly Dictionary<int, AddedToken> addedById;
    private readonly Dictionary<string, int> addedByContent;
    private readonly AddedTokenMatcher rawTextMatcher;
    private readonly AddedTokenMatcher normalizedTextMatcher;
    private readonly TextNormalizer? normalizer;
    private readonly PreTokenizer? preTokenizer;
    private readonly DecoderPlan decoderPlan;
    private readonly TemplatePostProcessor postProcessor;

    private GemmaTokenizer(TokenizerComponents components, SpecialTokenNames names, TemplatePostProcessor? postProcessorOverride)
    {
        model = components.Model;
        normalizer = components.Normalizer;
        preTokenizer = components.PreTokenizer;
        decoderPlan = DecoderPlan.Create(components.Decoder);
        AddedTokens = components.AddedTokens;
        addedById = [];
        addedByContent = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in AddedTokens)
        {
            addedById[token.Id] = token;
            addedByContent[token.Content] = token.Id;
        }

        // Special tokens are listed before the others, which only decides between two entries with the same text.
        var ordered = AddedTokens.Where(t => t.Special).Concat(AddedTokens.Where(t => !t.Special)).ToList();
        rawTextMatcher = new AddedTokenMatcher(ordered.Where(t => !t.Normalized).Select(t => (t, t.Content)));
        normalizedTextMatcher = new AddedTokenMatcher(
            ordered.Where(t => t.Normalized).Select(t => (t, normalizer?.Normalize(t.Content) ?? t.Content)));

        VocabularySize = Math.Max(model.IdLimit, AddedTokens.Count == 0 ? 0 : AddedTokens.Max(t => t.Id) + 1);
        BosId = RequireId(names.Bos, "bos_token");
        EosId = RequireId(names.Eos, "eos_token");
        PadId = RequireId(names.Pad, "pad_token");
        if (names.Unknown != null)
        {
            UnknownId = TokenToId(names.Unknown);
        }
        else if (model.UnknownId >= 0)
        {
            UnknownId = model.UnknownId;
        }

        postProcessor = postProcessorOverride ?? components.PostProcessor;
    }

    /// <summary>One more than the largest token id (262,144 for Gemma 4).</summary>
    public int VocabularySize { get; }

    /// <summary>Id of &lt;bos&gt; (or the bos_token of tokenizer_config.json).</summary>
    public int BosId { get; }

    /// <summary>Id of &lt;eos&gt; (or the eos_token of tokenizer_config.json). Chat models also stop at other ids.</summary>
    public int EosId { get; }

    /// <summary>Id of &lt;pad&gt; (or the pad_token of tokenizer_config.json).</summary>
    public int PadId { get; }

    /// <summary>Id of the unknown token, or null when the tokenizer has none.</summary>
    public int? UnknownId { get; }

    /// <summary>Ids that <see cref="Encode"/> puts before the text when it adds special tokens (Gemma: &lt;bos&gt;).</summary>
    public IReadOnlyList<int> SpecialTokenPrefix => postProcessor.PrefixIds;

    /// <summary>Ids that <see cref="Encode"/> puts after the text when it adds special tokens (Gemma: none).</summary>
    public IReadOnlyList<int> SpecialTokenSuffix => postProcessor.SuffixIds;

    /// <summary>The added tokens (control tokens, whitespace runs, HTML tags, reserved tokens) in file order.</summary>
    public IReadOnlyList<AddedToken> AddedTokens { get; }

    internal bool UsesByteFallback => model.ByteFallback;

    /// <summary>Loads a tokenizer.json file.</summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid tokenizer.json.</exception>
    /// <exception cref="NotSupportedException">The file uses a component type this tokenizer does not implement.</exception>
    public static GemmaTokenizer FromFile(string tokenizerJsonPath)
    {
        ArgumentNullException.ThrowIfNull(tokenizerJsonPath);
        if (!File.Exists(tokenizerJsonPath))
        {
            throw new FileNotFoundException($"Tokenizer file not found: {tokenizerJsonPath}. Pass the path of a Hugging Face tokenizer.json.", tokenizerJsonPath);
        }

        return FromJson(File.ReadAllBytes(tokenizerJsonPath), tokenizerJsonPath);
    }

    /// <summary>Loads a tokenizer from the UTF-8 bytes of a tokenizer.json.</summary>
    public static GemmaTokenizer FromJson(ReadOnlyMemory<byte> utf8Json) => FromJson(utf8Json, "tokenizer.json");

    /// <summary>
    /// Loads tokenizer.json from a model folder and applies tokenizer_config.json when present: its bos_token,
    /// eos_token, pad_token and unk_token names, and its add_bos_token and add_eos_token flags, which (as in
    /// transformers) decide what <see cref="Encode"/> adds when it adds special tokens.
    /// </summary>
    public static GemmaTokenizer FromDirectory(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        var tokenizerPath = Path.Combine(modelDirectory, "tokenizer.json");
        if (!File.Exists(tokenizerPath))
        {
            throw new FileNotFoundException(
                $"No tokenizer.json in the model folder {modelDirectory}. A Gemma model folder contains tokenizer.json and tokenizer_config.json.", tokenizerPath);
        }

        var configPath = Path.Combine(modelDirectory, "tokenizer_config.json");
        var config = File.Exists(configPath) ? TokenizerConfig.Read(configPath) : TokenizerConfig.Empty;
        var components = ReadComponents(File.ReadAllBytes(tokenizerPath), tokenizerPath);
        var names = new SpecialTokenNames(
            config.BosToken ?? SpecialTokenNames.Default.Bos,
            config.EosToken ?? SpecialTokenNames.Default.Eos,
            config.PadToken ?? SpecialTokenNames.Default.Pad,
            config.UnknownToken);
        var tokenizer = new GemmaTokenizer(components, names, postProcessorOverride: null);
        if (config.AddBosToken == null && config.AddEosToken == null)
        {
            return tokenizer;
        }

        var addBos = config.AddBosToken ?? tokenizer.SpecialTokenPrefix.Contains(tokenizer.BosId);
        var addEos = config.AddEosToken ?? tokenizer.SpecialTokenSuffix.Contains(tokenizer.EosId);
        var template = new TemplatePostProcessor(addBos ? [tokenizer.BosId] : [], addEos ? [tokenizer.EosId] : []);
        return new GemmaTokenizer(components, names, template);
    }

    /// <summary>
    /// Encodes text to token ids. With <paramref name="addSpecialTokens"/> the post-processor adds its tokens
    /// (Gemma: &lt;bos&gt; in front). Text rendered from a chat template already starts with &lt;bos&gt;, so encode
    /// it with <paramref name="addSpecialTokens"/> false. Added tokens such as &lt;|turn&gt; are recognized in the text.
    /// Unpaired surrogates are encoded as U+FFFD.
    /// </summary>
    public int[] Encode(string text, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = ReplaceUnpairedSurrogates(text);
        var ids = new List<int>(text.Length / 3 + 4);
        if (addSpecialTokens)
        {
            ids.AddRange(postProcessor.PrefixIds);
        }

        var words = new List<string>();
        foreach (var (start, end, id) in rawTextMatcher.Split(text))
        {
            if (id >= 0)
            {
                ids.Add(id);
                continue;
            }

            var piece = text[start..end];
            var normalized = normalizer?.Normalize(piece) ?? piece;
            foreach (var (normalizedStart, normalizedEnd, normalizedId) in normalizedTextMatcher.Split(normalized))
            {
                if (normalizedId >= 0)
                {
                    ids.Add(normalizedId);
                    continue;
                }

                var plain = normalized[normalizedStart..normalizedEnd];
                words.Clear();
                if (preTokenizer != null)
                {
                    preTokenizer.Split(plain, words);
                }
                else if (plain.Length > 0)
                {
                    words.Add(plain);
                }

                foreach (var word in words)
                {
                    model.Tokenize(word, ids);
                }
            }
        }

        if (addSpecialTokens)
        {
            ids.AddRange(postProcessor.SuffixIds);
        }

        return ids.ToArray();
    }

    /// <summary>Returns the number of tokens <see cref="Encode"/> produces for the text.</summary>
    public int CountTokens(string text, bool addSpecialTokens) => Encode(text, addSpecialTokens).Length;

    /// <summary>
    /// Decodes token ids to text. <see cref="DecodeMode.HuggingFace"/> (the default) gives exactly the text of the
    /// Hugging Face library; see <see cref="DecodeMode"/> for the difference to the mlx-lm behaviour.
    /// </summary>
    /// <param name="ids">Token ids.</param>
    /// <param name="skipSpecialTokens">Leaves out special tokens such as &lt;bos&gt; and &lt;turn|&gt;.</param>
    /// <param name="mode">How byte pieces and U+2581 become text.</param>
    /// <exception cref="ArgumentOutOfRangeException">An id has no piece in the vocabulary (the Hugging Face library
    /// silently drops such ids; this tokenizer reports them because they point to a bug upstream).</exception>
    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false, DecodeMode mode = DecodeMode.HuggingFace)
    {
        var tokens = new List<string>(ids.Length);
        for (var i = 0; i < ids.Length; i++)
        {
            var token = IdToToken(ids[i])
                ?? throw new ArgumentOutOfRangeException(
                    nameof(ids), ids[i], $"Token id {ids[i]} at position {i} is not in the vocabulary (ids 0 to {VocabularySize - 1}).");
            if (!skipSpecialTokens || !IsSpecial(ids[i]))
            {
                tokens.Add(token);
            }
        }

        return mode == DecodeMode.HuggingFace ? DecodeHuggingFace(tokens) : DecodeMlx(tokens);
    }

    /// <summary>
    /// Creates a detokenizer that turns ids into text one at a time without splitting characters; its output,
    /// joined, equals <see cref="Decode"/> with the same options.
    /// </summary>
    /// <exception cref="NotSupportedException">The decoder of this tokenizer.json cannot be run token by token
    /// (not the case for Gemma tokenizers).</exception>
    public StreamingDetokenizer CreateStreamingDetokenizer(bool skipSpecialTokens = false, DecodeMode mode = DecodeMode.HuggingFace) =>
        new(this, decoderPlan, skipSpecialTokens, mode);

    /// <summary>Returns the piece of a token id (added tokens first, then the model vocabulary), or null.</summary>
    public string? IdToToken(int id) => addedById.TryGetValue(id, out var added) ? added.Content : model.IdToToken(id);

    /// <summary>Returns the id of a piece (added tokens first, then the model vocabulary), or null.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return addedByContent.TryGetValue(token, out var id) ? id : model.TokenToId(token);
    }

    /// <summary>Returns true for special added tokens (pad, eos, bos, unk and the control tokens).</summary>
    public bool IsSpecial(int id) => addedById.TryGetValue(id, out var token) && token.Special;

    private string DecodeHuggingFace(List<string> tokens)
    {
        if (decoderPlan.Decoder == null)
        {
            return string.Join(' ', tokens);
        }

        return string.Concat(decoderPlan.Decoder.DecodeChain(tokens));
    }

    private string DecodeMlx(List<string> tokens)
    {
        var bytes = new List<byte>();
        Span<byte> buffer = stackalloc byte[4];
        var recognizeBytes = decoderPlan.HasByteFallback || model.ByteFallback;
        foreach (var token in tokens)
        {
            if (recognizeBytes && BytePiece.TryParse(token, out var value))
            {
                bytes.Add(value);
                continue;
            }

            foreach (var rune in token.EnumerateRunes())
            {
                var count = rune.EncodeToUtf8(buffer);
                for (var i = 0; i < count; i++)
                {
                    bytes.Add(buffer[i]);
                }
            }
        }

        var text = Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
        foreach (var replace in decoderPlan.MlxReplaceSteps)
        {
            text = replace.Apply(text);
        }

        foreach (var strip in decoderPlan.MlxStripSteps)
        {
            text = strip.Apply(text);
        }

        return text;
    }

    private int RequireId(string name, string role) =>
        TokenToId(name) ?? throw new InvalidDataException(
            $"The {role} '{name}' is not in the tokenizer vocabulary; a Gemma tokenizer.json must contain it (check {role} in tokenizer_config.json).");

    private static GemmaTokenizer FromJson(ReadOnlyMemory<byte> utf8Json, string source) =>
        new(ReadComponents(utf8Json, source), SpecialTokenNames.Default, postProcessorOverride: null);

    private static TokenizerComponents ReadComponents(ReadOnlyMemory<byte> utf8Json, string source)
    {
        try
        {
            using var document = JsonDocument.Parse(utf8Json, new JsonDocumentOptions { MaxDepth = 256 });
            return TokenizerJsonReader.Read(document.RootElement);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source} is not valid JSON: {e.Message}", e);
        }
        catch (InvalidOperationException e)
        {
            // JsonElement accessors throw this when a field has the wrong JSON type.
            throw new InvalidDataException($"{source} has a field of the wrong type: {e.Message}", e);
        }
        catch (FormatException e)
        {
            throw new InvalidDataException($"{source} has a number that is out of range: {e.Message}", e);
        }
    }

    private static string ReplaceUnpairedSurrogates(string text)
    {
        var first = text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF');
        if (first < 0)
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        builder.Append(text, 0, first);
        for (var i = first; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                builder.Append(c).Append(text[i + 1]);
                i++;
            }
            else
            {
                builder.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
            }
        }

        return builder.ToString();
    }

    private sealed record SpecialTokenNames(string Bos, string Eos, string Pad, string? Unknown)
    {
        public static readonly SpecialTokenNames Default = new("<bos>", "<eos>", "<pad>", null);
    }
}
