using System.Globalization;
using System.Text.Json;
using Waldwicht.Formats.Gguf;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Model.Export;

/// <summary>One tensor of a GGUF export with the weights it is computed from.</summary>
/// <param name="Declaration">GGUF name, storage type and GGML dimensions.</param>
/// <param name="Matrix">The source matrix [rows, columns], written row by row; null for a vector.</param>
/// <param name="Vector">The source vector (norm weights, layer scalar, RoPE frequency factors); null for a matrix.</param>
public sealed record GgufExportTensor(GgufTensorDeclaration Declaration, WeightMatrix? Matrix, float[]? Vector);

/// <summary>
/// The GGUF file that represents a loaded Gemma 4 model for llama.cpp's "gemma4" architecture:
/// metadata entries and tensors in file order. Building a plan reads the tokenizer files but no
/// weights.
/// </summary>
/// <remarks>
/// Names and keys follow llama.cpp. Tensor names come from LLM_ARCH_GEMMA4 in src/llama-arch.cpp,
/// and the hyperparameters are those that llama_model_gemma4::load_arch_hparams and
/// load_arch_tensors read (src/models/gemma4.cpp). The conversion rules are those of Gemma4Model in
/// llama.cpp's converter (conversion/gemma.py): norm weights are stored as multiplied (w, not w − 1), the layer scalar
/// becomes blk.N.layer_output_scale.weight, and a rope_freqs.weight tensor of frequency divisors
/// (1 for rotated pairs, 1e30 for the pairs that proportional RoPE leaves unrotated) makes
/// GGML's NeoX RoPE reproduce proportional RoPE on full-attention layers. The keys and value
/// proj/norm of KV-shared layers are not written; llama.cpp does not require them there.
/// </remarks>
public sealed class Gemma4GgufPlan
{
    // Frequency divisor that stops a pair from rotating (the converter's value for unrotated pairs).
    private const float UnrotatedFrequencyDivisor = 1e30f;

    private Gemma4GgufPlan(List<KeyValuePair<string, GgufValue>> metadata, List<GgufExportTensor> tensors, List<string> warnings)
    {
        Metadata = metadata;
        Tensors = tensors;
        Warnings = warnings;
    }

    /// <summary>Metadata entries in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata { get; }

    /// <summary>Tensors in file order.</summary>
    public IReadOnlyList<GgufExportTensor> Tensors { get; }

    /// <summary>Facts about the output that a user of llama.cpp should know.</summary>
    public IReadOnlyList<string> Warnings { get; }

    /// <summary>Bytes of tensor data (without alignment padding).</summary>
    public long TensorBytes => Tensors.Sum(t => t.Declaration.ByteLength);

    /// <summary>Maps <paramref name="model"/> to GGUF tensors and metadata.</summary>
    /// <exception cref="ModelFormatException">The model uses a feature that llama.cpp's gemma4 architecture cannot express, or its tokenizer files are unusable.</exception>
    public static Gemma4GgufPlan Create(Gemma4Model model, GgufExportOptions options)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(options);
        var config = model.Config;
        var warnings = new List<string>();
        CheckSupported(config);

        var tensors = CreateTensors(model, options.Type.MatrixType(), warnings);
        var metadata = new List<KeyValuePair<string, GgufValue>>
        {
            new("general.architecture", GgufValue.String("gemma4")),
            new("general.type", GgufValue.String("model")),
            new("general.name", GgufValue.String(options.Name ?? Path.GetFileName(model.Directory.TrimEnd(Path.DirectorySeparatorChar)))),
            new("general.file_type", GgufValue.UInt32(options.Type.FileType())),
            new("general.quantization_version", GgufValue.UInt32(2)),
        };
        metadata.AddRange(ArchitectureMetadata(model));
        metadata.AddRange(GgufTokenizerMetadata.Read(model.Directory, config.VocabSize, warnings));
        AddCompatibilityWarnings(model, warnings);
        return new Gemma4GgufPlan(metadata, tensors, warnings);
    }

    /// <summary>
    /// The gemma4.* hyperparameters, as the converter writes them (Gemma4Model.set_gguf_parameters
    /// and the TextModel and Gemma3Model keys it inherits).
    /// </summary>
    private static List<KeyValuePair<string, GgufValue>> ArchitectureMetadata(Gemma4Model model)
    {
        var config = model.Config;
        int layers = config.NumHiddenLayers;
        var widths = Enumerable.Range(0, layers).Select(i => (uint)config.LayerIntermediateSize(i)).ToArray();
        GgufValue feedForward = widths.Distinct().Count() == 1 ? GgufValue.UInt32(widths[0]) : GgufValue.UInt32Array(widths);
        var entries = new List<KeyValuePair<string, GgufValue>>
        {
            new("gemma4.block_count", GgufValue.UInt32((uint)layers)),
            new("gemma4.context_length", GgufValue.UInt32((uint)ReadMaxPositionEmbeddings(model.Directory))),
            new("gemma4.embedding_length", GgufValue.UInt32((uint)config.HiddenSize)),
            new("gemma4.feed_forward_length", feedForward),
            new("gemma4.attention.head_count", GgufValue.UInt32((uint)config.NumAttentionHeads)),
            new("gemma4.attention.head_count_kv", GgufValue.UInt32((uint)config.NumKeyValueHeads)),
            new("gemma4.rope.freq_base", GgufValue.Float32((float)config.FullRope.Theta)),
            new("gemma4.rope.freq_base_swa", GgufValue.Float32((float)config.SlidingRope.Theta)),
            new("gemma4.attention.layer_norm_rms_epsilon", GgufValue.Float32((float)config.RmsNormEps)),
            new("gemma4.attention.key_length", GgufValue.UInt32((uint)config.GlobalHeadDim)),
            new("gemma4.attention.value_length", GgufValue.UInt32((uint)config.GlobalHeadDim)),
            new("gemma4.attention.key_length_swa", GgufValue.UInt32((uint)config.HeadDim)),
            new("gemma4.attention.value_length_swa", GgufValue.UInt32((uint)config.HeadDim)),
            new("gemma4.attention.sliding_window", GgufValue.UInt32((uint)config.SlidingWindow)),
            new("gemma4.attention.sliding_window_pattern", GgufValue.BoolArray(config.LayerTypes.Select(t => t == AttentionKind.Sliding))),
            new("gemma4.attention.shared_kv_layers", GgufValue.UInt32((uint)config.NumKvSharedLayers)),
            new("gemma4.embedding_length_per_layer_input", GgufValue.UInt32((uint)config.HiddenSizePerLayerInput)),

            // Full layers rotate with frequencies over the whole head (the unrotated pairs are
            // switched off by rope_freqs.weight); sliding layers rotate every pair.
            new("gemma4.rope.dimension_count", GgufValue.UInt32((uint)config.GlobalHeadDim)),
            new("gemma4.rope.dimension_count_swa", GgufValue.UInt32((uint)config.HeadDim)),
        };

        if (config.FinalLogitSoftcapping is double cap)
        {
            entries.Add(new("gemma4.final_logit_softcapping", GgufValue.Float32((float)cap)));
        }

        return entries;
    }

    private static List<GgufExportTensor> CreateTensors(Gemma4Model model, GgmlType matrixType, List<string> warnings)
    {
        var config = model.Config;
        var weights = model.Weights;
        var tensors = new List<GgufExportTensor>();
        var fallbacks = new List<string>();

        void AddMatrix(string name, WeightMatrix matrix)
        {
            var type = matrixType;
            if (!type.CanStoreRow(matrix.Columns))
            {
                // The converter falls back to F16 when a row is not a whole number of blocks.
                type = GgmlType.F16;
                fallbacks.Add(name);
            }

            tensors.Add(new GgufExportTensor(new GgufTensorDeclaration(name, type, [matrix.Columns, matrix.Rows]), matrix, null));
        }

        void AddVector(string name, float[] values) =>
            tensors.Add(new GgufExportTensor(new GgufTensorDeclaration(name, GgmlType.F32, [values.Length]), null, values));

        AddVector("rope_freqs.weight", RopeFrequencyDivisors(model.FullRope.RotatedPairs, config.GlobalHeadDim / 2));
        AddMatrix("token_embd.weight", weights.EmbedTokens);
        if (weights.EmbedTokensPerLayer is { } perLayer)
        {
            AddMatrix("per_layer_token_embd.weight", perLayer);
            AddMatrix("per_layer_model_proj.weight", weights.PerLayerModelProjection!);
            AddVector("per_layer_proj_norm.weight", weights.PerLayerProjectionNorm!);
        }

        for (int i = 0; i < config.NumHiddenLayers; i++)
        {
            var layer = weights.Layers[i];
            string Name(string suffix) => $"blk.{i}.{suffix}.weight";
            AddVector(Name("attn_norm"), layer.InputLayerNorm);
            AddMatrix(Name("attn_q"), layer.QProj);
            if (layer.KProj != null && layer.VProj != null && layer.KNorm != null)
            {
                AddMatrix(Name("attn_k"), layer.KProj);
                AddMatrix(Name("attn_v"), layer.VProj);
                AddVector(Name("attn_k_norm"), layer.KNorm);
            }

            AddMatrix(Name("attn_output"), layer.OProj);
            AddVector(Name("attn_q_norm"), layer.QNorm);
            AddVector(Name("post_attention_norm"), layer.PostAttentionLayerNorm);
            AddVector(Name("ffn_norm"), layer.PreFeedforwardLayerNorm);
            AddMatrix(Name("ffn_gate"), layer.GateProj);
            AddMatrix(Name("ffn_up"), layer.UpProj);
            AddMatrix(Name("ffn_down"), layer.DownProj);
            AddVector(Name("post_ffw_norm"), layer.PostFeedforwardLayerNorm);
            if (layer.PerLayerInputGate != null)
            {
                AddMatrix(Name("inp_gate"), layer.PerLayerInputGate);
                AddMatrix(Name("proj"), layer.PerLayerProjection!);
                AddVector(Name("post_norm"), layer.PostPerLayerInputNorm!);
            }

            AddVector(Name("layer_output_scale"), [layer.LayerScalar]);
        }

        AddVector("output_norm.weight", weights.Norm);
        if (weights.LmHead != null)
        {
            AddMatrix("output.weight", weights.LmHead);
        }

        if (fallbacks.Count > 0)
        {
            warnings.Add(
                $"{fallbacks.Count} tensor(s) have a row length (column count) that is not a multiple of 32, the {matrixType.DisplayName()} block size, and are stored as F16: "
                + string.Join(", ", fallbacks.Take(6)) + (fallbacks.Count > 6 ? ", …" : "") + ".");
        }

        return tensors;
    }

    private static float[] RopeFrequencyDivisors(int rotatedPairs, int pairs)
    {
        var divisors = new float[pairs];
        for (int k = 0; k < pairs; k++)
        {
            divisors[k] = k < rotatedPairs ? 1f : UnrotatedFrequencyDivisor;
        }

        return divisors;
    }

    private static void CheckSupported(Gemma4Config config)
    {
        if (config.HiddenSizePerLayerInput > 0 && config.VocabSizePerLayerInput != config.VocabSize)
        {
            throw new ModelFormatException(
                $"The per-layer embedding table has {config.VocabSizePerLayerInput} rows but the vocabulary has {config.VocabSize}; "
                + "llama.cpp's gemma4 architecture needs one row per token in both tables.");
        }

        if (config.SlidingRope.Type != "default")
        {
            throw new ModelFormatException(
                $"Sliding-window layers use RoPE type '{config.SlidingRope.Type}'; llama.cpp's gemma4 architecture rotates every pair of sliding layers ('default').");
        }

        if (config.SlidingRope.Factor != 1 || config.FullRope.Factor != 1)
        {
            throw new ModelFormatException(
                $"RoPE scaling factors ({config.SlidingRope.Factor.ToString(CultureInfo.InvariantCulture)} sliding, "
                + $"{config.FullRope.Factor.ToString(CultureInfo.InvariantCulture)} full) are not supported by the GGUF export; only unscaled RoPE (factor 1) is.");
        }
    }

    private static void AddCompatibilityWarnings(Gemma4Model model, List<string> warnings)
    {
        var config = model.Config;
        int first = config.FirstKvSharedLayer;
        if (config.NumKvSharedLayers > 0)
        {
            // llama.cpp's layer reuse callback for Gemma 4 (src/llama-model.cpp) takes a shared
            // layer's K/V from first − 2 (sliding) or first − 1 (full) instead of searching for the
            // last earlier layer of the same kind.
            var differing = Enumerable.Range(first, config.NumKvSharedLayers)
                .Where(i => config.KvSourceLayer(i) != first - (config.LayerType(i) == AttentionKind.Sliding ? 2 : 1))
                .ToList();
            if (differing.Count > 0)
            {
                warnings.Add(
                    $"KV-shared layer(s) {string.Join(", ", differing)} take keys and values from a layer other than {first - 2} (sliding) or {first - 1} (full); "
                    + "llama.cpp builds that use those fixed sources (such as the one in LLamaSharp 0.30.0) compute a different model from this file or reject it. "
                    + "Gemma 4 E2B and E4B have the layout that llama.cpp expects.");
            }
        }

        float exactScale = MathF.Sqrt(config.HiddenSize);
        if (model.EmbeddingScale != exactScale)
        {
            warnings.Add(string.Create(
                CultureInfo.InvariantCulture,
                $"llama.cpp scales token embeddings by sqrt({config.HiddenSize}) = {exactScale:0.####}, while this model's reference scale is rounded to the weight type ({model.EmbeddingScale:0.####}); logits differ slightly."));
        }
    }

    private static int ReadMaxPositionEmbeddings(string modelDirectory)
    {
        const int Default = 131072;
        string path = Path.Combine(modelDirectory, "config.json");
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = document.RootElement;
        var text = root.TryGetProperty("text_config", out var nested) && nested.ValueKind == JsonValueKind.Object ? nested : root;
        return text.TryGetProperty("max_position_embeddings", out var value) && value.TryGetInt32(out int length) && length > 0
            ? length
            : Default;
    }
}
