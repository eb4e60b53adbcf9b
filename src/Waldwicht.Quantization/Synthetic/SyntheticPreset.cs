using System.Text.Json.Nodes;
using Waldwicht.Formats.Safetensors;

namespace Waldwicht.Quantization.Synthetic;

/// <summary>
/// Architecture of a synthetic Gemma 4 checkpoint: the text decoder settings of a real model (or of
/// the tiny test model) from which tensor shapes and config.json follow.
/// </summary>
public sealed record SyntheticPreset
{
    /// <summary>Prefix of the decoder's tensors, as in the Hugging Face release.</summary>
    public const string TensorPrefix = "model.language_model.";

    /// <summary>Preset name: tiny, e2b or e4b.</summary>
    public required string Name { get; init; }

    public required int VocabSize { get; init; }

    public required int HiddenSize { get; init; }

    public required int IntermediateSize { get; init; }

    public required int NumHiddenLayers { get; init; }

    public required int NumAttentionHeads { get; init; }

    public required int NumKeyValueHeads { get; init; }

    /// <summary>Head dimension of sliding-window layers.</summary>
    public required int HeadDim { get; init; }

    /// <summary>Head dimension of full-attention layers.</summary>
    public required int GlobalHeadDim { get; init; }

    /// <summary>Per-layer embedding width.</summary>
    public required int HiddenSizePerLayerInput { get; init; }

    public required int NumKvSharedLayers { get; init; }

    public required int SlidingWindow { get; init; }

    /// <summary>Every this-many layers, the last one is a full-attention layer.</summary>
    public required int SlidingWindowPattern { get; init; }

    public required bool UseDoubleWideMlp { get; init; }

    /// <summary>The tiny test model: 10 layers, hidden size 64, vocabulary 512 (739,290 parameters).</summary>
    public static SyntheticPreset Tiny { get; } = new()
    {
        Name = "tiny",
        VocabSize = 512,
        HiddenSize = 64,
        IntermediateSize = 128,
        NumHiddenLayers = 10,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 1,
        HeadDim = 32,
        GlobalHeadDim = 64,
        HiddenSizePerLayerInput = 16,
        NumKvSharedLayers = 4,
        SlidingWindow = 8,
        SlidingWindowPattern = 5,
        UseDoubleWideMlp = true,
    };

    /// <summary>Gemma 4 E2B (google/gemma-4-E2B-it text decoder): 35 layers, hidden size 1536, about 4.65 billion parameters.</summary>
    public static SyntheticPreset E2B { get; } = new()
    {
        Name = "e2b",
        VocabSize = 262144,
        HiddenSize = 1536,
        IntermediateSize = 6144,
        NumHiddenLayers = 35,
        NumAttentionHeads = 8,
        NumKeyValueHeads = 1,
        HeadDim = 256,
        GlobalHeadDim = 512,
        HiddenSizePerLayerInput = 256,
        NumKvSharedLayers = 20,
        SlidingWindow = 512,
        SlidingWindowPattern = 5,
        UseDoubleWideMlp = true,
    };

    /// <summary>
    /// Gemma 4 E4B text decoder: 42 layers, hidden size 2560, 2 key-value heads, full attention
    /// every 6th layer.
    /// </summary>
    /// <remarks>NOTE: use_double_wide_mlp = false is taken from third-party copies of the E4B config, not from the original file.</remarks>
    public static SyntheticPreset E4B { get; } = new()
    {
        Name = "e4b",
        VocabSize = 262144,
        HiddenSize = 2560,
        IntermediateSize = 10240,
        NumHiddenLayers = 42,
        NumAttentionHeads = 8,
        NumKeyValueHeads = 2,
        HeadDim = 256,
        GlobalHeadDim = 512,
        HiddenSizePerLayerInput = 256,
        NumKvSharedLayers = 18,
        SlidingWindow = 512,
        SlidingWindowPattern = 6,
        UseDoubleWideMlp = false,
    };

    /// <summary>Every preset.</summary>
    public static IReadOnlyList<SyntheticPreset> All { get; } = [Tiny, E2B, E4B];

    /// <summary>Finds a preset by name (tiny, e2b, e4b; case-insensitive).</summary>
    /// <exception cref="ArgumentException">No preset has that name.</exception>
    public static SyntheticPreset Parse(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return All.FirstOrDefault(p => string.Equals(p.Name, name.Trim(), StringComparison.OrdinalIgnoreCase))
            ?? throw new ArgumentException($"Unknown synthetic model '{name}'; use tiny, e2b or e4b.", nameof(name));
    }

    /// <summary>True for full-attention layers: the last layer of every group of <see cref="SlidingWindowPattern"/>.</summary>
    public bool IsFullAttention(int layer) => (layer + 1) % SlidingWindowPattern == 0;

    /// <summary>Head dimension of a layer.</summary>
    public int LayerHeadDim(int layer) => IsFullAttention(layer) ? GlobalHeadDim : HeadDim;

    /// <summary>MLP width of a layer: doubled on key-value-shared layers when <see cref="UseDoubleWideMlp"/> is set.</summary>
    public int LayerIntermediateSize(int layer) =>
        UseDoubleWideMlp && layer >= NumHiddenLayers - NumKvSharedLayers ? 2 * IntermediateSize : IntermediateSize;

    /// <summary>
    /// Every tensor of the checkpoint in name order, all BF16, with the names and shapes of the
    /// Hugging Face release (key and value projections of shared layers included, no towers).
    /// </summary>
    public IReadOnlyList<TensorDeclaration> Tensors()
    {
        var tensors = new List<TensorDeclaration>();
        void Add(string name, params long[] shape) => tensors.Add(new TensorDeclaration(TensorPrefix + name, SafetensorsDType.BF16, shape));

        int perLayerWidth = NumHiddenLayers * HiddenSizePerLayerInput;
        Add("embed_tokens.weight", VocabSize, HiddenSize);
        Add("embed_tokens_per_layer.weight", VocabSize, perLayerWidth);
        Add("per_layer_model_projection.weight", perLayerWidth, HiddenSize);
        Add("per_layer_projection_norm.weight", HiddenSizePerLayerInput);
        Add("norm.weight", HiddenSize);
        for (int layer = 0; layer < NumHiddenLayers; layer++)
        {
            string p = $"layers.{layer}.";
            int headDim = LayerHeadDim(layer);
            int width = LayerIntermediateSize(layer);
            Add(p + "input_layernorm.weight", HiddenSize);
            Add(p + "post_attention_layernorm.weight", HiddenSize);
            Add(p + "pre_feedforward_layernorm.weight", HiddenSize);
            Add(p + "post_feedforward_layernorm.weight", HiddenSize);
            Add(p + "post_per_layer_input_norm.weight", HiddenSize);
            Add(p + "self_attn.q_proj.weight", NumAttentionHeads * headDim, HiddenSize);
            Add(p + "self_attn.k_proj.weight", NumKeyValueHeads * headDim, HiddenSize);
            Add(p + "self_attn.v_proj.weight", NumKeyValueHeads * headDim, HiddenSize);
            Add(p + "self_attn.o_proj.weight", HiddenSize, NumAttentionHeads * headDim);
            Add(p + "self_attn.q_norm.weight", headDim);
            Add(p + "self_attn.k_norm.weight", headDim);
            Add(p + "mlp.gate_proj.weight", width, HiddenSize);
            Add(p + "mlp.up_proj.weight", width, HiddenSize);
            Add(p + "mlp.down_proj.weight", HiddenSize, width);
            Add(p + "per_layer_input_gate.weight", HiddenSizePerLayerInput, HiddenSize);
            Add(p + "per_layer_projection.weight", HiddenSize, HiddenSizePerLayerInput);
            Add(p + "layer_scalar", 1);
        }

        tensors.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        return tensors;
    }

    /// <summary>
    /// config.json in the layout of the Hugging Face release: model_type gemma4 with the decoder
    /// settings in text_config (the vision and audio settings are left out, as are the towers).
    /// </summary>
    public JsonObject ConfigJson()
    {
        var layerTypes = new JsonArray();
        for (int layer = 0; layer < NumHiddenLayers; layer++)
        {
            layerTypes.Add(IsFullAttention(layer) ? "full_attention" : "sliding_attention");
        }

        var text = new JsonObject
        {
            ["model_type"] = "gemma4_text",
            ["vocab_size"] = VocabSize,
            ["vocab_size_per_layer_input"] = VocabSize,
            ["hidden_size"] = HiddenSize,
            ["intermediate_size"] = IntermediateSize,
            ["num_hidden_layers"] = NumHiddenLayers,
            ["num_attention_heads"] = NumAttentionHeads,
            ["num_key_value_heads"] = NumKeyValueHeads,
            ["num_global_key_value_heads"] = null,
            ["head_dim"] = HeadDim,
            ["global_head_dim"] = GlobalHeadDim,
            ["hidden_size_per_layer_input"] = HiddenSizePerLayerInput,
            ["num_kv_shared_layers"] = NumKvSharedLayers,
            ["sliding_window"] = SlidingWindow,
            ["sliding_window_pattern"] = SlidingWindowPattern,
            ["layer_types"] = layerTypes,
            ["rope_parameters"] = new JsonObject
            {
                ["full_attention"] = new JsonObject
                {
                    ["partial_rotary_factor"] = Number("0.25"),
                    ["rope_theta"] = Number("1000000.0"),
                    ["rope_type"] = "proportional",
                },
                ["sliding_attention"] = new JsonObject
                {
                    ["rope_theta"] = Number("10000.0"),
                    ["rope_type"] = "default",
                },
            },
            ["rms_norm_eps"] = Number("1e-06"),
            ["final_logit_softcapping"] = Number("30.0"),
            ["use_double_wide_mlp"] = UseDoubleWideMlp,
            ["attention_k_eq_v"] = false,
            ["enable_moe_block"] = false,
            ["num_experts"] = null,
            ["top_k_experts"] = null,
            ["expert_intermediate_size"] = null,
            ["hidden_activation"] = "gelu_pytorch_tanh",
            ["max_position_embeddings"] = 131072,
            ["tie_word_embeddings"] = true,
            ["attention_bias"] = false,
            ["attention_dropout"] = Number("0.0"),
            ["use_bidirectional_attention"] = null,
            ["use_cache"] = true,
            ["initializer_range"] = Number("0.02"),
            ["bos_token_id"] = 2,
            ["eos_token_id"] = 1,
            ["pad_token_id"] = 0,
            ["dtype"] = "bfloat16",
        };

        return new JsonObject
        {
            ["architectures"] = new JsonArray("Gemma4ForConditionalGeneration"),
            ["model_type"] = "gemma4",
            ["text_config"] = text,
            ["vocab_size"] = VocabSize,
            ["tie_word_embeddings"] = true,
            ["dtype"] = "bfloat16",
        };
    }

    // Numbers spelled as Python's json module writes them (1e-06, 30.0), as in the released config.
    private static JsonNode Number(string text) => JsonNode.Parse(text)!;
}
