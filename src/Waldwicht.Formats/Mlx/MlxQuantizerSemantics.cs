namespace Waldwicht.Formats.Mlx;

/// <summary>
/// The two behaviours of MLX's affine quantize kernels (MLX 0.31), which differ only in rounding
/// and in the group maximum. Dequantization is the same for both.
/// </summary>
public enum MlxQuantizerSemantics
{
    /// <summary>
    /// The CPU backend (mlx/backend/cpu/quantized.cpp): codes and the zero point round half to
    /// even, and the group range is the true [minimum, maximum]. Checkpoints converted with mlx-lm
    /// on the CPU follow these rules.
    /// </summary>
    Cpu,

    /// <summary>
    /// The Metal and CUDA kernels: codes and the zero point round half away from zero, and the
    /// running maximum starts at 0, so an all-negative group uses the range [minimum, 0]. MLX
    /// quantizes on the GPU by default on Apple silicon, so Mac-made checkpoints such as the
    /// Waldwicht exports follow these rules.
    /// </summary>
    Gpu,
}
