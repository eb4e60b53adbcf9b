using System.Text.Json;

namespace Waldwicht.Model.Gemma4;

/// <summary>
/// Settings of the Gemma 4 text decoder, read from config.json (either the multimodal "gemma4"
/// layout with a text_config object or the flat "gemma4_text" layout), plus the per-layer facts
/// derived from them. Defaults for absent fields follow mlx-lm.
/// </summary>
public sealed class Gemma4Config
{
    /// <summary>"gemma4" (multimodal wrapper) or "gemma4_text".</summary>
    public required string ModelType { get; init; }

    public required int HiddenSize { get; init; }

    public required int NumHiddenLayers { get; init; }

    public required int IntermediateSize { get; init; }

    public required int NumAttentionHeads { get; init; }

    public required int NumKeyValueHeads { get; init; }

    /// <summary>Head dimension of sliding-window layers.</summary>
    public required int HeadDim { get; init; }

    /// <summary>Head dimension of full-attention layers.</summary>
    public required int GlobalHeadDim { get; init; }

    public required int VocabSize { get; init; }

    public required int VocabSizePerLayerInput { get; init; }

    /// <summary>Per-layer embedding width P; 0 disables per-layer embeddings.</summary>
    public required int HiddenSizePerLayerInput { get; init; }

    public required int NumKvSharedLayers { get; init; }

    public required bool UseDoubleWideMlp { get; init; }

    public required int SlidingWindow { get; init; }

    public required IReadOnlyList<AttentionKind> LayerTypes { get; init; }

    public required RopeParameters SlidingRope { get; init; }

    public required RopeParameters FullRope { get; init; }

    public required double RmsNormEps { get; init; }

    /// <summary>Final logit soft-capping constant, or null for none.</summary>
    public required double? FinalLogitSoftcapping { get; init; }

    public required bool TieWordEmbeddings { get; init; }

    public required int BosTokenId { get; init; }

    public required int PadTokenId { get; init; }

    /// <summary>End-of-sequence ids from config.json (generation_config.json may list more).</summary>
    public required IReadOnlyList<int> EosTokenIds { get; init; }

    /// <summary>The checkpoint dtype named in config.json ("bfloat16" when absent).</summary>
    public required string DType { get; init; }

    /// <summary>Index of the first KV-shared layer: N − num_kv_shared_layers.</summary>
    public int FirstKvSharedLayer => NumHiddenLayers - NumKvSharedLayers;

    /// <summary>Width of one row of the per-layer embedding table: N·P.</summary>
    public int PerLayerInputWidth => NumHiddenLayers * HiddenSizePerLayerInput;

    /// <summary>Attention kind of a layer.</summary>
    public AttentionKind LayerType(int layer) => LayerTypes[layer];

    /// <summary>True for layers that reuse an earlier layer's keys and values.</summary>
    public bool IsKvShared(int layer) => NumKvSharedLayers > 0 && layer >= FirstKvSharedLayer;

    /// <summary>Head dimension of a layer: global_head_dim on full layers, head_dim on sliding ones.</summary>
    public int LayerHeadDim(int layer) => LayerTypes[layer] == AttentionKind.Full ? GlobalHeadDim : HeadDim;

    /// <summary>MLP width of a layer: doubled on KV-shared layers when use_double_wide_mlp is set.</summary>
    public int LayerIntermediateSize(int layer) =>
        UseDoubleWideMlp && IsKvShared(layer) ? 2 * IntermediateSize : IntermediateSize;

    /// <summary>
    /// The layer whose keys and values a layer attends over: itself, or for a KV-shared layer the
    /// last non-shared layer of the same attention kind.
    /// </summary>
    public int KvSourceLayer(int layer)
    {
        if (!IsKvShared(layer))
        {
            return layer;
        }

        for (int j = FirstKvSharedLayer - 1; j >= 0; j--)
        {
            if (LayerTypes[j] == LayerTypes[layer])
            {
                return j;
            }
        }

        throw new ModelFormatException(
            $"Layer {layer} is KV-shared, but no earlier non-shared layer has attention type {LayerTypes[layer]}.");
    }

    /// <summary>Loads the text decoder settings from a model folder's config.json.</summary>
    public static Gemma4Config Load(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, "config.json");
        if (!File.Exists(path))
        {
            throw new ModelFormatException($"config.json not found in {modelDirectory}; a model folder needs its config.json.");
        }

        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            return FromJson(document.RootElement);
        }
        catch (JsonException ex)
        {
            throw new ModelFormatException($"{path} is not valid JSON: {ex.Message}", ex);
        }
    }

    /// <summary>Reads the text decoder settings from a parsed config.json.</summary>
    public static Gemma4Config FromJson(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new ModelFormatException("config.json must contain a JSON object.");
        }

        string modelType = GetString(root, "model_type") ?? "";
        JsonElement text;
        if (modelType == "gemma4")
        {
            if (!root.TryGetProperty("text_config", out text) || text.ValueKind != JsonValueKind.Object)
            {
                throw new ModelFormatException("config.json has model_type 'gemma4' but no text_config object.");
            }
        }
        else if (modelType == "gemma4_text")
        {
            text = root;
        }
        else
        {
            throw new ModelFormatException(
                $"config.json has model_type '{modelType}'; only Gemma 4 models ('gemma4', 'gemma4_text') are supported.");
        }

        if (GetBool(text, "attention_k_eq_v") == true)
        {
            throw new ModelFormatException("attention_k_eq_v is set: Gemma 4 variants with shared key/value projections (26B, 31B) are not supported.");
        }

        if (GetBool(text, "enable_moe_block") == true)
        {
            throw new ModelFormatException("enable_moe_block is set: mixture-of-experts Gemma 4 variants are not supported.");
        }

        string activation = GetString(text, "hidden_activation") ?? "gelu_pytorch_tanh";
        if (activation is not ("gelu_pytorch_tanh" or "gelu_new" or "gelu_fast"))
        {
            throw new ModelFormatException($"hidden_activation '{activation}' is not supported; Gemma 4 uses gelu_pytorch_tanh.");
        }

        int layers = GetInt(text, "num_hidden_layers") ?? 35;
        int vocab = GetInt(root, "vocab_size") ?? GetInt(text, "vocab_size") ?? 262144;
        int slidingWindowPattern = GetInt(text, "sliding_window_pattern") ?? 5;
        var layerTypes = ReadLayerTypes(text, layers, slidingWindowPattern);
        var (sliding, full) = ReadRope(text);
        int numKvShared = GetInt(text, "num_kv_shared_layers") ?? 20;
        if (numKvShared < 0 || numKvShared >= layers)
        {
            throw new ModelFormatException($"num_kv_shared_layers is {numKvShared}; it must be between 0 and num_hidden_layers − 1 ({layers - 1}).");
        }

        var config = new Gemma4Config
        {
            ModelType = modelType,
            HiddenSize = RequirePositive(text, "hidden_size", 1536),
            NumHiddenLayers = layers,
            IntermediateSize = RequirePositive(text, "intermediate_size", 6144),
            NumAttentionHeads = GetInt(text, "num_attention_heads") ?? GetInt(root, "num_attention_heads") ?? 8,
            NumKeyValueHeads = GetInt(text, "num_key_value_heads") ?? GetInt(root, "num_key_value_heads") ?? 1,
            HeadDim = RequirePositive(text, "head_dim", 256),
            GlobalHeadDim = GetInt(text, "global_head_dim") ?? GetInt(text, "head_dim") ?? 512,
            VocabSize = vocab,
            VocabSizePerLayerInput = GetInt(text, "vocab_size_per_layer_input") ?? vocab,
            HiddenSizePerLayerInput = GetInt(text, "hidden_size_per_layer_input") ?? 256,
            NumKvSharedLayers = numKvShared,
            UseDoubleWideMlp = GetBool(text, "use_double_wide_mlp") ?? true,
            SlidingWindow = RequirePositive(text, "sliding_window", 512),
            LayerTypes = layerTypes,
            SlidingRope = sliding,
            FullRope = full,
            RmsNormEps = GetDouble(text, "rms_norm_eps") ?? 1e-6,
            FinalLogitSoftcapping = text.TryGetProperty("final_logit_softcapping", out var cap)
                ? (cap.ValueKind == JsonValueKind.Number ? cap.GetDouble() : null)
                : 30.0,
            TieWordEmbeddings = GetBool(root, "tie_word_embeddings") ?? GetBool(text, "tie_word_embeddings") ?? true,
            BosTokenId = GetInt(text, "bos_token_id") ?? GetInt(root, "bos_token_id") ?? 2,
            PadTokenId = GetInt(text, "pad_token_id") ?? GetInt(root, "pad_token_id") ?? 0,
            EosTokenIds = ReadIds(root, "eos_token_id") ?? ReadIds(text, "eos_token_id") ?? [1],
            DType = GetString(text, "dtype") ?? GetString(text, "torch_dtype") ?? GetString(root, "dtype") ?? GetString(root, "torch_dtype") ?? "bfloat16",
        };
        config.Validate();
        return config;
    }

    private void Validate()
    {
        if (NumAttentionHeads <= 0 || NumKeyValueHeads <= 0 || NumAttentionHeads % NumKeyValueHeads != 0)
        {
            throw new ModelFormatException(
                $"num_attention_heads ({NumAttentionHeads}) must be a positive multiple of num_key_value_heads ({NumKeyValueHeads}).");
        }

        if (HeadDim % 2 != 0 || GlobalHeadDim % 2 != 0 || GlobalHeadDim <= 0)
        {
            throw new ModelFormatException($"head_dim ({HeadDim}) and global_head_dim ({GlobalHeadDim}) must be positive and even.");
        }

        if (VocabSize <= 0 || (HiddenSizePerLayerInput > 0 && VocabSizePerLayerInput <= 0) || HiddenSizePerLayerInput < 0)
        {
            throw new ModelFormatException("vocab_size, vocab_size_per_layer_input and hidden_size_per_layer_input must be positive.");
        }

        for (int layer = FirstKvSharedLayer; layer < NumHiddenLayers; layer++)
        {
            KvSourceLayer(layer);
        }
    }

    private static List<AttentionKind> ReadLayerTypes(JsonElement text, int layers, int pattern)
    {
        if (text.TryGetProperty("layer_types", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            var types = new List<AttentionKind>();
            foreach (var item in list.EnumerateArray())
            {
                types.Add(item.GetString() switch
                {
                    "sliding_attention" => AttentionKind.Sliding,
                    "full_attention" => AttentionKind.Full,
                    var other => throw new ModelFormatException($"layer_types contains '{other}'; expected 'sliding_attention' or 'full_attention'."),
                });
            }

            if (types.Count != layers)
            {
                throw new ModelFormatException($"layer_types lists {types.Count} layers, but num_hidden_layers is {layers}.");
            }

            return types;
        }

        // mlx-lm's rule when the list is absent: (pattern − 1) sliding layers, then one full layer, repeated.
        if (pattern <= 0)
        {
            throw new ModelFormatException($"sliding_window_pattern must be positive, found {pattern}.");
        }

        return Enumerable.Range(0, layers)
            .Select(i => (i + 1) % pattern == 0 ? AttentionKind.Full : AttentionKind.Sliding)
            .ToList();
    }

    private static (RopeParameters Sliding, RopeParameters Full) ReadRope(JsonElement text)
    {
        var sliding = new RopeParameters("default", GetDouble(text, "rope_local_base_freq") ?? 10_000, 1.0, 1.0);
        var full = new RopeParameters("proportional", GetDouble(text, "rope_theta") ?? 1_000_000, GetDouble(text, "partial_rotary_factor") ?? 0.25, 1.0);
        if (text.TryGetProperty("rope_parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
        {
            if (parameters.TryGetProperty("sliding_attention", out var s) && s.ValueKind == JsonValueKind.Object)
            {
                sliding = ReadRopeEntry(s, sliding);
            }

            if (parameters.TryGetProperty("full_attention", out var f) && f.ValueKind == JsonValueKind.Object)
            {
                full = ReadRopeEntry(f, full);
            }
        }

        return (sliding, full);
    }

    private static RopeParameters ReadRopeEntry(JsonElement entry, RopeParameters fallback)
    {
        string type = GetString(entry, "rope_type") ?? fallback.Type;
        if (type is not ("default" or "proportional"))
        {
            throw new ModelFormatException($"rope_type '{type}' is not supported; expected 'default' or 'proportional'.");
        }

        return new RopeParameters(
            type,
            GetDouble(entry, "rope_theta") ?? fallback.Theta,
            GetDouble(entry, "partial_rotary_factor") ?? (type == "proportional" ? fallback.PartialRotaryFactor : 1.0),
            GetDouble(entry, "factor") ?? 1.0);
    }

    private static int RequirePositive(JsonElement element, string name, int fallback)
    {
        int value = GetInt(element, name) ?? fallback;
        if (value <= 0)
        {
            throw new ModelFormatException($"config.json field '{name}' must be positive, found {value}.");
        }

        return value;
    }

    private static string? GetString(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool? GetBool(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind is JsonValueKind.True or JsonValueKind.False
            ? value.GetBoolean()
            : null;

    private static double? GetDouble(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;

    private static int? GetInt(JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out int result))
        {
            throw new ModelFormatException($"config.json field '{name}' must be an integer, found {value}.");
        }

        return result;
    }

    private static int[]? ReadIds(JsonElement element, string name)
    {
        if (!element.TryGetProperty(name, out var value))
        {
            return null;
        }

        return value.ValueKind switch
        {
            JsonValueKind.Number => [value.GetInt32()],
            JsonValueKind.Array => value.EnumerateArray().Where(v => v.ValueKind == JsonValueKind.Number).Select(v => v.GetInt32()).ToArray(),
            _ => null,
        };
    }
}
