using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// Activation rows quantized per group for the integer kernels: codes q (int16, natural column order), and per
/// group the scale d with x ≈ d·q and the float sum Σx that the bias term needs. With
/// <see cref="ActivationPrecision.Int32"/>, <see cref="LowCodes"/> carry the rest, x ≈ d·(q + q_low/32768).
/// Otherwise <see cref="LowCodes"/> is null.
/// </summary>
internal readonly unsafe struct QuantizedActivations
{
    /// <summary>The factor 2^−15 between a low code and a code.</summary>
    public const float LowCodeWeight = 1f / 32768;

    public readonly short* Codes;
    public readonly short* LowCodes;
    public readonly float* Scales;
    public readonly float* Sums;
    public readonly int Columns;
    public readonly int GroupSize;
    public readonly int GroupsPerRow;

    public QuantizedActivations(short* codes, short* lowCodes, float* scales, float* sums, int columns, int groupSize)
    {
        Codes = codes;
        LowCodes = lowCodes;
        Scales = scales;
        Sums = sums;
        Columns = columns;
        GroupSize = groupSize;
        GroupsPerRow = columns / groupSize;
    }

    /// <summary>
    /// Bytes of scratch that <paramref name="rows"/> quantized rows take, each part 64-byte aligned: codes, low codes,
    /// scales and sums.
    /// </summary>
    public static long ScratchBytes(int rows, int columns, int groupSize)
    {
        long codes = Align((long)rows * columns * sizeof(short));
        long groups = Align((long)rows * (columns / groupSize) * sizeof(float));
        return 2 * codes + 2 * groups;
    }

    /// <summary>
    /// Lays out the parts of <see cref="ScratchBytes"/> in <paramref name="scratch"/>, with low codes only for
    /// <paramref name="precision"/> <see cref="ActivationPrecision.Int32"/>.
    /// </summary>
    public static QuantizedActivations InScratch(
        byte* scratch, int rows, int columns, int groupSize, ActivationPrecision precision)
    {
        long codes = Align((long)rows * columns * sizeof(short));
        long groups = Align((long)rows * (columns / groupSize) * sizeof(float));
        return new QuantizedActivations(
            (short*)scratch,
            precision == ActivationPrecision.Int32 ? (short*)(scratch + codes) : null,
            (float*)(scratch + 2 * codes),
            (float*)(scratch + 2 * codes + groups),
            columns,
            groupSize);
    }

    /// <summary>The codes of activation row <paramref name="row"/>.</summary>
    public short* RowCodes(int row) => Codes + (long)row * Columns;

    /// <summary>The low codes of activation row <paramref name="row"/>, or null without low codes.</summary>
    public short* RowLowCodes(int row) => LowCodes == null ? null : LowCodes + (long)row * Columns;

    /// <summary>The group scales of activation row <paramref name="row"/>.</summary>
    public float* RowScales(int row) => Scales + (long)row * GroupsPerRow;

    /// <summary>The group sums of activation row <paramref name="row"/>.</summary>
    public float* RowSums(int row) => Sums + (long)row * GroupsPerRow;

    private static long Align(long bytes) => (bytes + 63) & ~63L;
}

/// <summary>
/// Quantizes float activations per group to signed integers: d = max|x|/qmax, q = round(x·(qmax/max|x|)) (to
/// nearest, ties to even) with qmax = 32767 for <see cref="ActivationPrecision.Int16"/> and
/// <see cref="ActivationPrecision.Int32"/> and 127 for <see cref="ActivationPrecision.Int8"/>. Int32 also writes
/// low codes q_low = round((x − q·d)·(32768·qmax/max|x|)), where x − q·d is one fused multiply-add, so that
/// d·(q + q_low/32768) is off from x by about d/65536. Every path gives the same codes, low codes and scales bit
/// for bit. The sums may differ in the last bits, because the summation order follows the vector width.
/// </summary>
internal static unsafe class ActivationQuantizer
{
    /// <summary>Largest code magnitude of a precision.</summary>
    public static int MaxCode(ActivationPrecision precision) => precision == ActivationPrecision.Int8 ? 127 : 32767;

    private const float LowCodeFactor = 32768;

    /// <summary>
    /// Threshold for a group's largest magnitude: below it the group is taken as all zeros (codes 0 and scale 0,
    /// while its float sum still counts). 32767·32768/1e-28 stays finite, and dropping such values changes a product
    /// by less than 1e-28 per unit of weight.
    /// </summary>
    public const float TinyGroup = 1e-28f;

    /// <summary>
    /// Quantizes <paramref name="rows"/> rows of <see cref="QuantizedActivations.Columns"/> floats, row-major at
    /// <paramref name="x"/>. A group whose values are all 0, or all below <see cref="TinyGroup"/> in magnitude,
    /// gets scale 0. A group with an infinite or NaN value gets codes 0 and scale NaN, so that every product that
    /// reads it is NaN.
    /// </summary>
    public static void Quantize(
        float* x, int rows, in QuantizedActivations output, ActivationPrecision precision, KernelPath path)
    {
        if ((precision == ActivationPrecision.Int32) != (output.LowCodes != null))
        {
            throw new ArgumentException(
                $"Activations laid out with{(output.LowCodes == null ? "out" : "")} low codes cannot be quantized as {precision}; "
                + "create them with QuantizedActivations.InScratch and the same precision.",
                nameof(output));
        }

        float maxCode = MaxCode(precision);
        int groupSize = output.GroupSize;
        for (int row = 0; row < rows; row++)
        {
            float* source = x + (long)row * output.Columns;
            short* codes = output.RowCodes(row);
            short* lowCodes = output.RowLowCodes(row);
            float* scales = output.RowScales(row);
            float* sums = output.RowSums(row);
            for (int g = 0; g < output.GroupsPerRow; g++)
            {
                int offset = g * groupSize;
                switch (path)
                {
                    case KernelPath.Vector512:
                        QuantizeGroup512(source + offset, groupSize, maxCode, codes + offset, Offset(lowCodes, offset), out scales[g], out sums[g]);
                        break;
                    case KernelPath.Vector512 or KernelPath.Vector256 when Vector256.IsHardwareAccelerated:
                        QuantizeGroup256(source + offset, groupSize, maxCode, codes + offset, Offset(lowCodes, offset), out scales[g], out sums[g]);
                        break;
                    case KernelPath.Vector512 or KernelPath.Vector256 or KernelPath.Vector128
                        when Vector128.IsHardwareAccelerated:
                        QuantizeGroup128(source + offset, groupSize, maxCode, codes + offset, Offset(lowCodes, offset), out scales[g], out sums[g]);
                        break;
                    default:
                        QuantizeGroupScalar(source + offset, groupSize, maxCode, codes + offset, Offset(lowCodes, offset), out scales[g], out sums[g]);
                        break;
                }
            }
        }
    }

    private static short* Offset(short* codes, int offset) => codes == null ? null : codes + offset;

    /// <summary>The reference: one value at a time. <paramref name="lowCodes"/> may be null.</summary>
    public static void QuantizeGroupScalar(
        float* x, int length, float maxCode, short* codes, short* lowCodes, out float scale, out float sum)
    {
        float max = 0;
        sum = 0;
        for (int i = 0; i < length; i++)
        {
            max = MathF.Max(max, MathF.Abs(x[i]));
            sum += x[i];
        }

        float inverse = Inverse(max, sum, maxCode, out scale);
        for (int i = 0; i < length; i++)
        {
            float code = MathF.Round(x[i] * inverse);
            codes[i] = (short)(int)code;
            if (lowCodes != null)
            {
                // A group without a finite scale (inverse 0) gets low codes 0 as well.
                float rest = inverse == 0 ? 0 : MathF.FusedMultiplyAdd(-code, scale, x[i]);
                lowCodes[i] = (short)(int)MathF.Round(rest * (inverse * LowCodeFactor));
            }
        }
    }

    // Returns maxCode/max, the factor that maps x to codes, and sets the scale max/maxCode. All-zero and
    // non-finite groups map to codes 0, and so do groups below TinyGroup, whose factor times the low-code factor
    // would overflow float.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Inverse(float max, float sum, float maxCode, out float scale)
    {
        if (!float.IsFinite(max) || !float.IsFinite(sum))
        {
            scale = float.NaN;
            return 0;
        }

        if (max < TinyGroup)
        {
            scale = 0;
            return 0;
        }

        scale = max / maxCode;
        return maxCode / max;
    }

    private static void QuantizeGroup512(
        float* x, int length, float maxCode, short* codes, short* lowCodes, out float scale, out float sum)
    {
        var max = Vector512<float>.Zero;
        var total = Vector512<float>.Zero;
        for (int i = 0; i < length; i += 16)
        {
            var value = Vector512.Load(x + i);
            max = Vector512.Max(max, Vector512.Abs(value));
            total += value;
        }

        sum = Vector512.Sum(total);
        float scalarInverse = Inverse(max.ToScalarMax(), sum, maxCode, out scale);
        var inverse = Vector512.Create(scalarInverse);
        for (int i = 0; i < length; i += 32)
        {
            var first = Vector512.Load(x + i);
            var second = Vector512.Load(x + i + 16);
            var firstCodes = Vector512.Round(first * inverse);
            var secondCodes = Vector512.Round(second * inverse);
            Vector512.Narrow(Vector512.ConvertToInt32(firstCodes), Vector512.ConvertToInt32(secondCodes)).Store(codes + i);
            if (lowCodes != null && scalarInverse == 0)
            {
                // A group without a finite scale gets low codes 0 as well.
                Vector512<short>.Zero.Store(lowCodes + i);
            }
            else if (lowCodes != null)
            {
                var negativeScale = Vector512.Create(-scale);
                var lowInverse = Vector512.Create(scalarInverse * LowCodeFactor);
                var firstRest = Vector512.FusedMultiplyAdd(firstCodes, negativeScale, first);
                var secondRest = Vector512.FusedMultiplyAdd(secondCodes, negativeScale, second);
                var firstLow = Vector512.ConvertToInt32(Vector512.Round(firstRest * lowInverse));
                var secondLow = Vector512.ConvertToInt32(Vector512.Round(secondRest * lowInverse));
                Vector512.Narrow(firstLow, secondLow).Store(lowCodes + i);
            }
        }
    }

    private static void QuantizeGroup256(
        float* x, int length, float maxCode, short* codes, short* lowCodes, out float scale, out float sum)
    {
        var max = Vector256<float>.Zero;
        var total = Vector256<float>.Zero;
        for (int i = 0; i < length; i += 8)
        {
            var value = Vector256.Load(x + i);
            max = Vector256.Max(max, Vector256.Abs(value));
            total += value;
        }

        sum = Vector256.Sum(total);
        float scalarInverse = Inverse(max.ToScalarMax(), sum, maxCode, out scale);
        var inverse = Vector256.Create(scalarInverse);
        for (int i = 0; i < length; i += 16)
        {
            var first = Vector256.Load(x + i);
            var second = Vector256.Load(x + i + 8);
            var firstCodes = Vector256.Round(first * inverse);
            var secondCodes = Vector256.Round(second * inverse);
            Vector256.Narrow(Vector256.ConvertToInt32(firstCodes), Vector256.ConvertToInt32(secondCodes)).Store(codes + i);
            if (lowCodes != null && scalarInverse == 0)
            {
                // A group without a finite scale gets low codes 0 as well.
                Vector256<short>.Zero.Store(lowCodes + i);
            }
            else if (lowCodes != null)
            {
                var negativeScale = Vector256.Create(-scale);
                var lowInverse = Vector256.Create(scalarInverse * LowCodeFactor);
                var firstRest = Vector256.FusedMultiplyAdd(firstCodes, negativeScale, first);
                var secondRest = Vector256.FusedMultiplyAdd(secondCodes, negativeScale, second);
                var firstLow = Vector256.ConvertToInt32(Vector256.Round(firstRest * lowInverse));
                var secondLow = Vector256.ConvertToInt32(Vector256.Round(secondRest * lowInverse));
                Vector256.Narrow(firstLow, secondLow).Store(lowCodes + i);
            }
        }
    }

    private static void QuantizeGroup128(
        float* x, int length, float maxCode, short* codes, short* lowCodes, out float scale, out float sum)
    {
        var max = Vector128<float>.Zero;
        var total = Vector128<float>.Zero;
        for (int i = 0; i < length; i += 4)
        {
            var value = Vector128.Load(x + i);
            max = Vector128.Max(max, Vector128.Abs(value));
            total += value;
        }

        sum = Vector128.Sum(total);
        float scalarInverse = Inverse(max.ToScalarMax(), sum, maxCode, out scale);
        var inverse = Vector128.Create(scalarInverse);
        for (int i = 0; i < length; i += 8)
        {
            var first = Vector128.Load(x + i);
            var second = Vector128.Load(x + i + 4);
            var firstCodes = Vector128.Round(first * inverse);
            var secondCodes = Vector128.Round(second * inverse);
            Vector128.Narrow(Vector128.ConvertToInt32(firstCodes), Vector128.ConvertToInt32(secondCodes)).Store(codes + i);
            if (lowCodes != null && scalarInverse == 0)
            {
                // A group without a finite scale gets low codes 0 as well.
                Vector128<short>.Zero.Store(lowCodes + i);
            }
            else if (lowCodes != null)
            {
                var negativeScale = Vector128.Create(-scale);
                var lowInverse = Vector128.Create(scalarInverse * LowCodeFactor);
                var firstRest = Vector128.FusedMultiplyAdd(firstCodes, negativeScale, first);
                var secondRest = Vector128.FusedMultiplyAdd(secondCodes, negativeScale, second);
                var firstLow = Vector128.ConvertToInt32(Vector128.Round(firstRest * lowInverse));
                var secondLow = Vector128.ConvertToInt32(Vector128.Round(secondRest * lowInverse));
                Vector128.Narrow(firstLow, secondLow).Store(lowCodes + i);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ToScalarMax(this Vector512<float> value) =>
        Vector256.Max(value.GetLower(), value.GetUpper()).ToScalarMax();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ToScalarMax(this Vector256<float> value) =>
        Vector128.Max(value.GetLower(), value.GetUpper()).ToScalarMax();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float ToScalarMax(this Vector128<float> value)
    {
        var pairs = Vector128.Max(value, Vector128.Shuffle(value, Vector128.Create(2, 3, 0, 1)));
        return MathF.Max(pairs.ToScalar(), pairs.GetElement(1));
    }
}
