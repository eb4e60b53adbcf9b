namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// How a <see cref="QuantizedMatrix"/> represents the activations in its products: as floats, or quantized to
/// integers once per call so that the kernels multiply integer codes with integer activations.
/// </summary>
/// <remarks>
/// The integer modes quantize every group of <see cref="QuantizedMatrix.GroupSize"/> activations with its own
/// scale d = max|x|/qmax and compute Σ_g scale_g·d_g·Σ(code·q) + bias_g·Σx, where Σx is the exact float sum of the
/// group. The rounding error of each activation is at most d/2, or about d/65536 with the low codes of
/// <see cref="Int32"/>. The precision applies to matrix-vector products
/// (decode) and to matrix-matrix products of up to three activation rows. Longer products (prefill) are compute-bound
/// and always use the tiled float path. In the integer modes, a prompt split into single-token chunks can therefore
/// give slightly different logits than one pass.
/// </remarks>
public enum ActivationPrecision
{
    /// <summary>
    /// 16-bit activations (qmax = 32767): each value is off by at most 1/65534 of its group's largest magnitude.
    /// On the tiny Gemma 4 test models in tests/data, logits differ from <see cref="Float32"/> by up to about 1e-2
    /// and greedy tokens stay the same.
    /// </summary>
    Int16,

    /// <summary>
    /// 8-bit activations (qmax = 127): each value is off by at most 1/254 of its group's largest magnitude. On the
    /// tiny Gemma 4 test models, prefill logits differ from <see cref="Float32"/> by up to about 3 and greedy tokens
    /// change, so this mode is an explicit opt-in.
    /// </summary>
    Int8,

    /// <summary>
    /// Float32 activations and kernels that convert every code to float: exact to float32 rounding. The default except
    /// on x64 processors whose widest kernels are the AVX2 ones (<see cref="QuantizedMatrix.RecommendedActivationPrecision"/>).
    /// </summary>
    Float32,

    /// <summary>
    /// 16-bit codes plus 16-bit low codes for what they leave over (x ≈ d·(q + q_low/32768)), multiplied by the
    /// same integer instructions as <see cref="Int16"/> with twice the multiplies: each value is off by about
    /// 1/2^31 of its group's largest magnitude, finer than float32 rounding of the largest values. On the tiny Gemma
    /// 4 test models, logits stay within 1e-4 of the reference, as with <see cref="Float32"/>. The default on x64
    /// processors with AVX2 but without AVX-512, where it decodes faster than <see cref="Float32"/>.
    /// </summary>
    Int32,
}
