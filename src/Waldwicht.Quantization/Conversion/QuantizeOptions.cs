using Waldwicht.Formats.Mlx;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Quantization.Recipes;

namespace Waldwicht.Quantization.Conversion;

/// <summary>Naming, sharding and config conventions of a quantized checkpoint folder.</summary>
public enum CheckpointLayout
{
    /// <summary>
    /// The layout of the published Waldwicht models: Hugging Face tensor names
    /// (model.language_model.…), no safetensors metadata, 2 GiB shards with an index only when
    /// there is more than one, and per-module overrides keyed by leaf name (down_proj, …) in
    /// config.json.
    /// </summary>
    Waldwicht,

    /// <summary>
    /// The layout mlx-lm's converter writes: mlx-lm module names (language_model.model.…),
    /// metadata format = mlx, 5 GiB shards, an index always, full-path overrides with mode affine
    /// for the modules that differ from the global values, and config.json keys sorted.
    /// Multimodal towers are dropped, as mlx-lm's Gemma 4 sanitizer does.
    /// </summary>
    MlxLm,
}

/// <summary>Settings of one quantization run. The defaults reproduce the Waldwicht exporter.</summary>
public sealed record QuantizeOptions
{
    /// <summary>Bits and group size per component.</summary>
    public required QuantizationRecipe Recipe { get; init; }

    /// <summary>Output naming and config conventions (default: Waldwicht).</summary>
    public CheckpointLayout Layout { get; init; } = CheckpointLayout.Waldwicht;

    /// <summary>
    /// Storage type of scales and biases: F32 (default, as the Waldwicht exporter, which casts
    /// every weight to float32 first) or BF16 (as mlx-lm's converter writes for BF16 models).
    /// </summary>
    public ElementType ScaleType { get; init; } = ElementType.F32;

    /// <summary>Rounding rules of the emulated MLX kernel (default: Metal/GPU, as the Waldwicht models were made).</summary>
    public MlxQuantizerSemantics Rounding { get; init; } = MlxQuantizerSemantics.Gpu;

    /// <summary>Drops the vision and audio towers instead of quantizing them with the default.</summary>
    public bool TextOnly { get; init; }

    /// <summary>Replaces an existing output folder (only after the new one is complete).</summary>
    public bool Force { get; init; }

    /// <summary>Worker threads for quantization (null: all processors).</summary>
    public int? Threads { get; init; }

    /// <summary>Source bytes read and quantized per block of rows; bounds the working memory.</summary>
    public int BlockBytes { get; init; } = 32 << 20;

    internal void Validate()
    {
        ArgumentNullException.ThrowIfNull(Recipe);
        if (!Enum.IsDefined(Layout))
        {
            throw new ArgumentOutOfRangeException(nameof(Layout), Layout, "Layout must be Waldwicht or MlxLm.");
        }

        if (ScaleType is not (ElementType.F32 or ElementType.BF16))
        {
            throw new ArgumentException($"Scale type {ScaleType} is not supported; scales and biases are stored as F32 or BF16.");
        }

        if (!Enum.IsDefined(Rounding))
        {
            throw new ArgumentOutOfRangeException(nameof(Rounding), Rounding, "Rounding must be Cpu or Gpu.");
        }

        if (Threads is int threads && threads <= 0)
        {
            throw new ArgumentException($"The thread count must be positive; got {threads}.");
        }

        if (BlockBytes <= 0)
        {
            throw new ArgumentException($"The block size must be positive; got {BlockBytes} bytes.");
        }
    }
}
