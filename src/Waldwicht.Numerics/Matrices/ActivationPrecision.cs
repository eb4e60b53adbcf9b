namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// How a <see cref="QuantizedMatrix"/> represents the activations in its products: as floats, or quantized to
/// integers once per call so that the kernels multiply integer codes with integer activations.
/// </summary>
/// <remarks>
/// The integer modes quantize every group of <see cref="QuantizedMatrix.GroupSize"/> activations with its own
/// scale d = max|x|/qmax and compute Σ_g scale_g·d_g·Σ(code·q) + bias_g·Σx, where Σx is the exact float sum of the
/// group. The rounding error of each activation is at most d/2.
/// </remarks>
public enum ActivationPrecision
{
    /// <summary>
    /// 16-bit activations (qmax = 32767): each value is off by at most 1/65534 of its group's largest magnitude,
    /// which keeps results within float32 rounding of <see cref="Float32"/> for typical activations.
    /// </summary>
    Int16,

    /// <summary>
    /// 8-bit activations (qmax = 127): each value is off by at most 1/254 of its group's largest magnitude. Faster
    /// products, noticeably less accurate results; an explicit opt-in.
    /// </summary>
    Int8,

    /// <summary>Float32 activations and kernels that convert every code to float: exact to float32 rounding. The default.</summary>
    Float32,
}
