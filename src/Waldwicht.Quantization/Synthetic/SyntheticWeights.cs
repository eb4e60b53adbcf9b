using System.Runtime.CompilerServices;
using Waldwicht.Numerics;

namespace Waldwicht.Quantization.Synthetic;

/// <summary>
/// Deterministic random weights whose statistics resemble a trained Gemma checkpoint. Matrices get
/// a per-tensor scale, per-row variation, heavier-than-normal tails and a few outlier input
/// columns. Norm weights spread around a typical level, and layer scalars lie between 0.2 and 0.8.
/// </summary>
/// <remarks>
/// Every element is a pure function of (seed, tensor name, element index): a counter-based
/// SplitMix64 hash, so blocks can be generated in any order and on any number of threads with the
/// same result. A normal-like value is the sum of the four 16-bit parts of one hash (Irwin-Hall
/// with n = 4), stretched by z·(1 + 0.1·z²) for heavier tails.
/// </remarks>
internal sealed class SyntheticWeights
{
    private const ulong Gamma = 0x9E3779B97F4A7C15;

    // Mean and standard deviation of the sum of four uniform 16-bit integers.
    private const float IrwinHallMean = 4 * 32767.5f;
    private const float IrwinHallDeviation = 37837.23f;

    // One input column in 256 carries 3 to 8 times the typical magnitude, as activation outlier
    // channels do in trained transformers.
    private const double OutlierColumnRate = 1.0 / 256;

    private readonly ulong _key;
    private readonly float[] _columnFactors;

    public SyntheticWeights(int seed, string tensorName, long[] shape)
    {
        TensorName = tensorName;
        Columns = shape.Length == 0 ? 1 : (int)shape[^1];
        Rows = shape.Length <= 1 ? 1 : shape[0];
        _key = Mix(Fnv1a(tensorName) ^ Mix((ulong)(uint)seed + Gamma));
        Kind = Classify(tensorName, shape.Length);
        Scale = ChooseScale();
        _columnFactors = new float[Columns];
        for (int column = 0; column < Columns; column++)
        {
            double u = Uniform(Mix(_key ^ 0xC01C01C01UL) + ((ulong)column * Gamma));
            _columnFactors[column] = Kind == WeightKind.Matrix && u < OutlierColumnRate
                ? 3f + (float)(5 * Uniform(Mix(_key + (ulong)column)))
                : 1f;
        }
    }

    public enum WeightKind
    {
        Matrix,
        Norm,
        LayerScalar,
    }

    public string TensorName { get; }

    public WeightKind Kind { get; }

    public long Rows { get; }

    public int Columns { get; }

    /// <summary>Standard deviation of a matrix, or the typical level of a norm weight or scalar.</summary>
    public float Scale { get; }

    /// <summary>Fills one row of BF16 values.</summary>
    public void FillRow(long row, Span<ushort> destination)
    {
        switch (Kind)
        {
            case WeightKind.Matrix:
                float rowScale = Scale * (0.7f + (0.6f * (float)Uniform(Mix(_key ^ 0x5EED5EEDUL) + ((ulong)row * Gamma))));
                ulong start = (ulong)row * (ulong)Columns;
                for (int column = 0; column < destination.Length; column++)
                {
                    float z = Normal(Mix(_key + ((start + (ulong)column + 1) * Gamma)));
                    destination[column] = BFloat16.FromSingle(z * rowScale * _columnFactors[column]);
                }

                break;
            case WeightKind.Norm:
                for (int column = 0; column < destination.Length; column++)
                {
                    float z = Normal(Mix(_key + (((ulong)column + 1) * Gamma)));
                    destination[column] = BFloat16.FromSingle(Scale * MathF.Max(0.05f, 1f + (0.25f * z)));
                }

                break;
            default:
                destination[0] = BFloat16.FromSingle(0.2f + (0.6f * (float)Uniform(_key)));
                break;
        }
    }

    private static WeightKind Classify(string name, int rank)
    {
        if (name.EndsWith("layer_scalar", StringComparison.Ordinal))
        {
            return WeightKind.LayerScalar;
        }

        return rank >= 2 ? WeightKind.Matrix : WeightKind.Norm;
    }

    private float ChooseScale()
    {
        float gain = 0.6f + (0.8f * (float)Uniform(Mix(_key ^ 0x6A1AUL)));
        if (Kind == WeightKind.Norm)
        {
            // Typical levels: the final norm is larger, q/k norms and the PLE output norm smaller.
            if (TensorName.EndsWith(".norm.weight", StringComparison.Ordinal) && !TensorName.Contains("layers.", StringComparison.Ordinal))
            {
                return 2.5f * gain;
            }

            if (TensorName.Contains("q_norm", StringComparison.Ordinal) || TensorName.Contains("k_norm", StringComparison.Ordinal))
            {
                return 0.8f * gain;
            }

            return gain;
        }

        if (Kind == WeightKind.LayerScalar)
        {
            return 1f;
        }

        if (TensorName.Contains("embed_tokens_per_layer", StringComparison.Ordinal))
        {
            return 0.05f * gain;
        }

        if (TensorName.Contains("embed_tokens", StringComparison.Ordinal))
        {
            return 0.03f * gain;
        }

        return gain / MathF.Sqrt(Columns);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Normal(ulong hash)
    {
        uint sum = (uint)(hash & 0xFFFF) + (uint)((hash >> 16) & 0xFFFF) + (uint)((hash >> 32) & 0xFFFF) + (uint)(hash >> 48);
        float z = (sum - IrwinHallMean) / IrwinHallDeviation;
        return z * (1f + (0.1f * z * z));
    }

    private static double Uniform(ulong hash) => (hash >> 11) * (1.0 / (1UL << 53));

    // SplitMix64 finalizer (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", 2014).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB;
        return x ^ (x >> 31);
    }

    private static ulong Fnv1a(string text)
    {
        ulong hash = 0xCBF29CE484222325;
        foreach (char c in text)
        {
            hash = (hash ^ c) * 0x100000001B3;
        }

        return hash;
    }
}
