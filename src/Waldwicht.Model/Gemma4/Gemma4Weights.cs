using System.Text.Json;
using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Numerics;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Model.Gemma4;

/// <summary>Weights of one decoder layer. Matrices stay in the mapped checkpoint; norms are copied to floats.</summary>
public sealed class Gemma4LayerWeights
{
    public required WeightMatrix QProj { get; init; }

    /// <summary>Key projection, or null on KV-shared layers.</summary>
    public required WeightMatrix? KProj { get; init; }

    /// <summary>Value projection, or null on KV-shared layers.</summary>
    public required WeightMatrix? VProj { get; init; }

    public required WeightMatrix OProj { get; init; }

    public required float[] QNorm { get; init; }

    /// <summary>Key norm weight, or null on KV-shared layers.</summary>
    public required float[]? KNorm { get; init; }

    public required WeightMatrix GateProj { get; init; }

    public required WeightMatrix UpProj { get; init; }

    public required WeightMatrix DownProj { get; init; }

    public required float[] InputLayerNorm { get; init; }

    public required float[] PostAttentionLayerNorm { get; init; }

    public required float[] PreFeedforwardLayerNorm { get; init; }

    public required float[] PostFeedforwardLayerNorm { get; init; }

    /// <summary>Per-layer input gate [P, H], or null when per-layer embeddings are disabled.</summary>
    public required WeightMatrix? PerLayerInputGate { get; init; }

    /// <summary>Per-layer projection [H, P], or null when per-layer embeddings are disabled.</summary>
    public required WeightMatrix? PerLayerProjection { get; init; }

    public required float[]? PostPerLayerInputNorm { get; init; }

    public required float LayerScalar { get; init; }
}

/// <summary>One bound matrix with its checkpoint module name, for reports such as `waldwicht inspect`.</summary>
public sealed record BoundMatrix(string Module, WeightMatrix Matrix);

/// <summary>
/// All weights of the Gemma 4 text decoder, bound to a memory-mapped checkpoint. Quantized modules
/// are recognised by their .scales tensor; their bits and group size are inferred from the tensor
/// shapes and cross-checked with config.json.
/// </summary>
public sealed class Gemma4Weights
{
    private Gemma4Weights(
        Gemma4TensorNames names,
        WeightMatrix embedTokens,
        WeightMatrix? lmHead,
        WeightMatrix? embedTokensPerLayer,
        WeightMatrix? perLayerModelProjection,
        float[]? perLayerProjectionNorm,
        float[] norm,
        Gemma4LayerWeights[] layers,
        IReadOnlyList<BoundMatrix> matrices,
        IReadOnlyList<string> ignoredTensors)
    {
        Names = names;
        EmbedTokens = embedTokens;
        LmHead = lmHead;
        EmbedTokensPerLayer = embedTokensPerLayer;
        PerLayerModelProjection = perLayerModelProjection;
        PerLayerProjectionNorm = perLayerProjectionNorm;
        Norm = norm;
        Layers = layers;
        Matrices = matrices;
        IgnoredTensors = ignoredTensors;
    }

    public Gemma4TensorNames Names { get; }

    /// <summary>Token embedding [V, H]; also the output head when the head is tied.</summary>
    public WeightMatrix EmbedTokens { get; }

    /// <summary>Separate output head [V, H] of untied checkpoints, else null.</summary>
    public WeightMatrix? LmHead { get; }

    /// <summary>Per-layer embedding table [V_ple, N·P], or null when P is 0.</summary>
    public WeightMatrix? EmbedTokensPerLayer { get; }

    /// <summary>Projection of the scaled embedding to the per-layer inputs [N·P, H].</summary>
    public WeightMatrix? PerLayerModelProjection { get; }

    public float[]? PerLayerProjectionNorm { get; }

    /// <summary>Final norm weight [H].</summary>
    public float[] Norm { get; }

    public IReadOnlyList<Gemma4LayerWeights> Layers { get; }

    /// <summary>Every bound matrix with its module name.</summary>
    public IReadOnlyList<BoundMatrix> Matrices { get; }

    /// <summary>Text-decoder tensors present in the checkpoint but not used (for example the unused K/V of shared layers).</summary>
    public IReadOnlyList<string> IgnoredTensors { get; }

    /// <summary>The matrix that produces the logits: the untied head or the embedding.</summary>
    public WeightMatrix OutputHead => LmHead ?? EmbedTokens;

    /// <summary>Binds the decoder's weights in <paramref name="checkpoint"/>.</summary>
    /// <exception cref="ModelFormatException">A tensor is missing, has the wrong shape or dtype, or its quantization is inconsistent.</exception>
    public static Gemma4Weights Bind(Gemma4Config config, SafetensorsCheckpoint checkpoint, JsonElement configJson)
    {
        var names = Gemma4TensorNames.Detect(checkpoint.Contains, config.ModelType);
        MlxQuantizationConfig? quantization;
        try
        {
            quantization = MlxQuantizationConfig.FromConfig(configJson);
        }
        catch (FormatException ex)
        {
            throw new ModelFormatException(ex.Message, ex);
        }

        var binder = new Binder(config, checkpoint, names, quantization);
        return binder.BindAll();
    }

    private sealed class Binder(Gemma4Config config, SafetensorsCheckpoint checkpoint, Gemma4TensorNames names, MlxQuantizationConfig? quantization)
    {
        private readonly HashSet<string> _used = new(StringComparer.Ordinal);
        private readonly List<BoundMatrix> _matrices = [];

        public Gemma4Weights BindAll()
        {
            int h = config.HiddenSize;
            int p = config.HiddenSizePerLayerInput;
            var embed = Matrix("embed_tokens", config.VocabSize, h);
            WeightMatrix? lmHead = null;
            if (!config.TieWordEmbeddings)
            {
                lmHead = BindLmHead();
            }

            WeightMatrix? ple = null, pleProjection = null;
            float[]? pleNorm = null;
            if (p > 0)
            {
                ple = Matrix("embed_tokens_per_layer", config.VocabSizePerLayerInput, config.PerLayerInputWidth);
                pleProjection = Matrix("per_layer_model_projection", config.PerLayerInputWidth, h);
                pleNorm = Vector("per_layer_projection_norm", p);
            }

            var norm = Vector("norm", h);
            var layers = new Gemma4LayerWeights[config.NumHiddenLayers];
            for (int i = 0; i < layers.Length; i++)
            {
                layers[i] = BindLayer(i);
            }

            var ignored = checkpoint.Names
                .Where(n => !_used.Contains(n) && !Gemma4TensorNames.IsMultimodal(n))
                .ToList();
            return new Gemma4Weights(names, embed, lmHead, ple, pleProjection, pleNorm, norm, layers, _matrices, ignored);
        }

        private WeightMatrix BindLmHead()
        {
            string[] candidates = ["lm_head", "language_model.lm_head"];
            foreach (var module in candidates)
            {
                if (checkpoint.Contains(module + ".weight"))
                {
                    return MatrixAt(module, module, [module], config.VocabSize, config.HiddenSize);
                }
            }

            throw new ModelFormatException("tie_word_embeddings is false, but the checkpoint has no lm_head.weight.");
        }

        private Gemma4LayerWeights BindLayer(int i)
        {
            int h = config.HiddenSize;
            int d = config.LayerHeadDim(i);
            int heads = config.NumAttentionHeads;
            int kvHeads = config.NumKeyValueHeads;
            int width = config.LayerIntermediateSize(i);
            int p = config.HiddenSizePerLayerInput;
            bool shared = config.IsKvShared(i);
            string L(string module) => Gemma4TensorNames.LayerModule(i, module);

            return new Gemma4LayerWeights
            {
                QProj = Matrix(L("self_attn.q_proj"), heads * d, h),
                KProj = shared ? null : Matrix(L("self_attn.k_proj"), kvHeads * d, h),
                VProj = shared ? null : Matrix(L("self_attn.v_proj"), kvHeads * d, h),
                OProj = Matrix(L("self_attn.o_proj"), h, heads * d),
                QNorm = Vector(L("self_attn.q_norm"), d),
                KNorm = shared ? null : Vector(L("self_attn.k_norm"), d),
                GateProj = Matrix(L("mlp.gate_proj"), width, h),
                UpProj = Matrix(L("mlp.up_proj"), width, h),
                DownProj = Matrix(L("mlp.down_proj"), h, width),
                InputLayerNorm = Vector(L("input_layernorm"), h),
                PostAttentionLayerNorm = Vector(L("post_attention_layernorm"), h),
                PreFeedforwardLayerNorm = Vector(L("pre_feedforward_layernorm"), h),
                PostFeedforwardLayerNorm = Vector(L("post_feedforward_layernorm"), h),
                PerLayerInputGate = p > 0 ? Matrix(L("per_layer_input_gate"), p, h) : null,
                PerLayerProjection = p > 0 ? Matrix(L("per_layer_projection"), h, p) : null,
                PostPerLayerInputNorm = p > 0 ? Vector(L("post_per_layer_input_norm"), h) : null,
                LayerScalar = Scalar(L("layer_scalar")),
            };
        }

        private WeightMatrix Matrix(string module, int rows, int columns) =>
            MatrixAt(module, names.Prefix + module, names.QuantizationKeys(module), rows, columns);

        private WeightMatrix MatrixAt(string module, string stem, IEnumerable<string> quantizationKeys, int rows, int columns)
        {
            string weightName = stem + ".weight";
            string scalesName = stem + ".scales";
            string biasesName = stem + ".biases";
            if (!checkpoint.Contains(weightName))
            {
                throw new ModelFormatException($"Missing tensor '{weightName}' (expected shape [{rows}, {columns}]).");
            }

            var weight = checkpoint.GetInfo(weightName);
            _used.Add(weightName);
            WeightMatrix matrix;
            if (checkpoint.Contains(scalesName))
            {
                if (!checkpoint.Contains(biasesName))
                {
                    throw new ModelFormatException($"Tensor '{scalesName}' exists but '{biasesName}' is missing; a quantized module needs both.");
                }

                var scales = checkpoint.GetInfo(scalesName);
                var biases = checkpoint.GetInfo(biasesName);
                _used.Add(scalesName);
                _used.Add(biasesName);
                if (weight.DType != SafetensorsDType.U32)
                {
                    throw new ModelFormatException($"Quantized tensor '{weightName}' must be U32, found {weight.DType}.");
                }

                if (scales.DType != biases.DType)
                {
                    throw new ModelFormatException($"'{scalesName}' is {scales.DType} but '{biasesName}' is {biases.DType}; both must have the same dtype.");
                }

                var scaleType = ToElementType(scales.DType, scalesName);
                QuantizationParameters? configured;
                try
                {
                    configured = quantization?.Resolve(quantizationKeys, hasScales: true);
                    var parameters = QuantizedLayout.Infer(stem, weight.Shape, scales.Shape, biases.Shape, rows, columns, configured);
                    matrix = new QuantizedMatrix(
                        checkpoint.GetPointer(weightName), checkpoint.GetPointer(scalesName), checkpoint.GetPointer(biasesName),
                        scaleType, rows, columns, parameters.Bits, parameters.GroupSize);
                }
                catch (FormatException ex)
                {
                    throw new ModelFormatException(ex.Message, ex);
                }
            }
            else
            {
                if (weight.Rank != 2 || weight.Shape[0] != rows || weight.Shape[1] != columns)
                {
                    throw new ModelFormatException($"Tensor '{weightName}' has shape {weight.ShapeText}, expected [{rows}, {columns}].");
                }

                matrix = new DenseMatrix(checkpoint.GetPointer(weightName), ToElementType(weight.DType, weightName), rows, columns);
            }

            _matrices.Add(new BoundMatrix(stem, matrix));
            return matrix;
        }

        private float[] Vector(string module, int length)
        {
            string name = names.Tensor(module, "weight");
            if (!checkpoint.Contains(name))
            {
                throw new ModelFormatException($"Missing tensor '{name}' (expected shape [{length}]).");
            }

            var info = checkpoint.GetInfo(name);
            if (info.ElementCount != length || info.Rank != 1)
            {
                throw new ModelFormatException($"Tensor '{name}' has shape {info.ShapeText}, expected [{length}].");
            }

            _used.Add(name);
            return ReadFloats(name, info);
        }

        private float Scalar(string module)
        {
            string name = names.Prefix + module;
            if (!checkpoint.Contains(name))
            {
                throw new ModelFormatException($"Missing tensor '{name}' (expected shape [1]).");
            }

            var info = checkpoint.GetInfo(name);
            if (info.ElementCount != 1)
            {
                throw new ModelFormatException($"Tensor '{name}' has shape {info.ShapeText}, expected [1].");
            }

            _used.Add(name);
            return ReadFloats(name, info)[0];
        }

        private float[] ReadFloats(string name, TensorInfo info)
        {
            var result = new float[info.ElementCount];
            switch (info.DType)
            {
                case SafetensorsDType.F32:
                    checkpoint.GetSpan<float>(name).CopyTo(result);
                    break;
                case SafetensorsDType.BF16:
                    BFloat16.ToSingle(checkpoint.GetSpan<ushort>(name), result);
                    break;
                case SafetensorsDType.F16:
                    var halves = checkpoint.GetSpan<Half>(name);
                    for (int i = 0; i < result.Length; i++)
                    {
                        result[i] = (float)halves[i];
                    }

                    break;
                default:
                    throw new ModelFormatException($"Tensor '{name}' has dtype {info.DType}; expected F32, BF16 or F16.");
            }

            return result;
        }

        private static ElementType ToElementType(SafetensorsDType dtype, string name) => dtype switch
        {
            SafetensorsDType.F32 => ElementType.F32,
            SafetensorsDType.BF16 => ElementType.BF16,
            SafetensorsDType.F16 => ElementType.F16,
            _ => throw new ModelFormatException($"Tensor '{name}' has dtype {dtype}; expected F32, BF16 or F16."),
        };
    }
}
