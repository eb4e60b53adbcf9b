namespace Waldwicht.Numerics.Matrices;

/// <summary>
/// How a <see cref="QuantizedMatrix"/> represents the activations in its products: as floats, or quantized to
/// integers once per call so that the kernels multiply integer codes with integer activations.
/// </summary>
/// <remarks>
/// The integer modes quantize every group of <see cref="QuantizedMatrix.GroupSize"/> activations with its own
/// scale d = max|x|/qmax and compute Σ_g scale_g·d_g·Σ(code·q) + bias_g·Σx, where Σx is the exact float sum of the
/// group. The rounding error of each activation is at most d/2, or about d/65536 with the low codes of
/// <see cref="Int32"/>. The precision applies to matrix-vector products (decode) and to matrix-matrix products of up
/// to three activation rows. Longer products (prefill) are compute-bound and always use the tiled float path. In the integer modes, a prompt split into single-token chunks can therefore
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

/// <summary>The short names of the activation precisions, as command lines spell them: f32, int32, int16, int8.</summary>
public static class ActivationPrecisionNames
{
    private static readonly (string Name, ActivationPrecision Precision)[] s_names =
    [
        ("f32", ActivationPrecision.Float32),
        ("int32", ActivationPrecision.Int32),
        ("int16", ActivationPrecision.Int16),
        ("int8", ActivationPrecision.Int8),
    ];

    /// <summary>The names joined for messages: "f32, int32, int16 or int8".</summary>
    public static string Choices { get; } =
        string.Join(", ", s_names[..^1].Select(entry => entry.Name)) + " or " + s_names[^1].Name;

    /// <summary>Returns the short name of <paramref name="precision"/>.</summary>
    public static string Format(ActivationPrecision precision) =>
        Array.Find(s_names, entry => entry.Precision == precision).Name
        ?? throw new ArgumentOutOfRangeException(nameof(precision), precision, "Activation precision must be Float32, Int32, Int16 or Int8.");

    /// <summary>Looks up the precision whose short name is <paramref name="name"/> (case-sensitive).</summary>
    public static bool TryParse(string name, out ActivationPrecision precision)
    {
        int index = Array.FindIndex(s_names, entry => entry.Name == name);
        precision = index >= 0 ? s_names[index].Precision : default;
        return index >= 0;
    }
}
