using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// The matrix-vector product of <see cref="QuantizedKernels"/> for AVX2 with FMA, tuned for streaming. It works on two
/// rows at once so that every activation vector it loads feeds two multiply-adds, and takes each code with a single AND
/// instead of a shift and an AND. It reads F32 scales and biases in place, broadcasts scales by permute instead of
/// gather, and prefetches rows ahead. The 4-lane region and the scalar tail of a row reuse the generic kernels.
/// </summary>
/// <remarks>
/// <para>
/// Step k of an 8-lane vector masks the code at bit bits·k of every lane in place and converts the masked word, which
/// yields code·2^(bits·k) exactly. The activations of that step are stored multiplied by 2^−(bits·k)
/// (<see cref="ActivationFactors"/>, applied by <see cref="CodePlan.PermuteScaled"/>), so every product equals code·x:
/// scaling by a power of two is exact unless the scaled activation becomes subnormal, below about 1e-30 in magnitude.
/// The top code of 2-, 4- and 8-bit words is taken by one shift instead, because a mask at bit 31 would make the
/// converted integer negative, and its factor is 1.
/// </para>
/// <para>
/// For codes of 3, 5 and 6 bits each lane is first shifted by its own offset so that its codes sit at multiples of the
/// code width, as in <see cref="QuantizedMatVec512"/>. A lane with one code fewer than the others reads part of the
/// code that continues into the next word in its last full step, and its activation slot is 0. The code that
/// straddles two words is joined from both, masked at bit 0 and has factor 1.
/// </para>
/// </remarks>
internal static unsafe class QuantizedMatVec256
{
    /// <summary>Lanes of the region this kernel computes, whose activations must be scaled by step.</summary>
    public const int Lanes = 8;

    private static readonly float[][] s_factors = new float[9][];

    /// <summary>True when this processor runs the kernel.</summary>
    public static bool IsSupported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// The factor for the activations of each step (<see cref="CodePlan.Steps"/> entries) in the 8-lane region, for
    /// <see cref="CodePlan.PermuteScaled"/>.
    /// </summary>
    public static float[] ActivationFactors(int bits) => s_factors[bits] ??= CreateFactors(bits);

    /// <summary>
    /// Computes y[r] for rows <paramref name="rowStart"/> to <paramref name="rowEnd"/> − 1 from activations that
    /// <see cref="CodePlan.PermuteScaled"/> arranged with <see cref="ActivationFactors"/>, and their per-group sums,
    /// which must be padded with zeros to a multiple of 8 groups.
    /// </summary>
    // NoInlining: inlined into a caller, the kernel exceeds the JIT's inlining budget and its steps become calls.
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void MatVecRows<TBits>(
        in QuantizedLayout matrix,
        CodePlan plan,
        float* permutedX,
        float* groupSums,
        int rowStart,
        int rowEnd,
        float* y,
        float* scratch)
        where TBits : struct, IBitWidth
    {
        int stride = matrix.GroupsPerRow + 16;
        var main = plan.Regions.Length > 0 && plan.Regions[0].Lanes == Lanes ? plan.Regions[0] : null;
        bool remainder = plan.Regions.Length > (main is null ? 0 : 1) || plan.TailFirstCode < plan.Columns;
        uint* lastWords = stackalloc uint[Lanes];
        int ahead = RowPrefetch.Distance(matrix);
        for (int row = rowStart; row < rowEnd; row += 2)
        {
            if (row + ahead + 1 < matrix.Rows)
            {
                RowPrefetch.Pair(matrix, row + ahead);
            }

            // An odd last row is computed twice, as both rows of the pair.
            int rowB = Math.Min(row + 1, rowEnd - 1);
            var a = new RowInput(matrix, row, scratch, scratch + stride, Lanes, KernelPath.Vector256);
            var b = new RowInput(matrix, rowB, scratch + 2 * stride, scratch + 3 * stride, Lanes, KernelPath.Vector256);
            var totalA = BiasTerm(matrix, a.Biases, groupSums);
            var totalB = BiasTerm(matrix, b.Biases, groupSums);
            if (main is not null)
            {
                float* x = permutedX + main.FirstSlot;
                if (typeof(TBits) == typeof(Bits3) || typeof(TBits) == typeof(Bits5) || typeof(TBits) == typeof(Bits6))
                {
                    StraddledRegion<TBits>(plan, main, a, b, lastWords, x, ref totalA, ref totalB);
                }
                else
                {
                    WholeWordRegion<TBits>(plan, main, a, b, x, ref totalA, ref totalB);
                }
            }

            float restA = remainder ? Remainder<TBits>(plan, main, a, permutedX) : 0;
            y[row] = Vector256.Sum(totalA) + restA;
            if (rowB != row)
            {
                float restB = remainder ? Remainder<TBits>(plan, main, b, permutedX) : 0;
                y[rowB] = Vector256.Sum(totalB) + restB;
            }
        }
    }

    private static float[] CreateFactors(int bits)
    {
        var plan = CodePlan.Get(32 * bits, bits, 32, KernelPath.Vector256);
        var factors = new float[plan.Steps];
        for (int k = 0; k < plan.Steps; k++)
        {
            bool shifted = !plan.Straddles && k == plan.FullSteps - 1;
            bool straddle = k == plan.FullSteps;
            factors[k] = shifted || straddle ? 1f : MathF.ScaleB(1f, -bits * k);
        }

        return factors;
    }

    // Σ_g bias_g·Σx_g as a vector of partial sums. The group sums are padded with zeros, and the biases are read
    // through a masked load past the row's last group, so that nothing beyond the array is touched.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BiasTerm(in QuantizedLayout matrix, float* biases, float* groupSums)
    {
        int groups = matrix.GroupsPerRow;
        var total = Vector256<float>.Zero;
        int g = 0;
        for (; g + Lanes <= groups; g += Lanes)
        {
            total = Fma.MultiplyAdd(Vector256.Load(biases + g), Vector256.Load(groupSums + g), total);
        }

        if (g < groups)
        {
            var mask = Vector256.LessThan(Vector256<int>.Indices, Vector256.Create(groups - g)).AsSingle();
            var tail = Avx.MaskLoad(biases + g, mask);
            total = Fma.MultiplyAdd(tail, Vector256.Load(groupSums + g), total);
        }

        return total;
    }

    // The 4-lane region and the scalar tail of one row, whose activations are not scaled.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Remainder<TBits>(CodePlan plan, CodeRegion? main, in RowInput row, float* permutedX)
        where TBits : struct, IBitWidth
    {
        float sum = 0;
        for (int r = main is null ? 0 : 1; r < plan.Regions.Length; r++)
        {
            sum += QuantizedKernels.DotRegion<Simd128, Vector128<float>, TBits>(
                plan, plan.Regions[r], row.Words, row.WordsAvailable, permutedX, row.Scales);
        }

        int groupShift = BitOperations.Log2((uint)plan.GroupSize);
        float* tailX = permutedX + plan.TailFirstSlot - plan.TailFirstCode;
        for (int c = plan.TailFirstCode; c < plan.Columns; c++)
        {
            sum += row.Scales[c >> groupShift] * (QuantizedLayout.ExtractCode(row.Words, c, TBits.Bits) * tailX[c]);
        }

        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WholeWordRegion<TBits>(
        CodePlan plan, CodeRegion region, in RowInput a, in RowInput b, float* x, ref Vector256<float> totalA, ref Vector256<float> totalB)
        where TBits : struct, IBitWidth
    {
        int slotsPerVector = Lanes * plan.Steps;
        fixed (int* groupBase = region.GroupBase, groupLane = region.GroupLane)
        {
            for (int v = 0; v < region.VectorCount; v++)
            {
                var wordA = Vector256.Load(a.Words + Lanes * v);
                var wordB = Vector256.Load(b.Words + Lanes * v);
                Steps<TBits>(wordA, wordB, x, out var dotA, out var dotB);
                var lanes = Vector256.Load(groupLane + Lanes * v);
                totalA = Fma.MultiplyAdd(dotA, Avx2.PermuteVar8x32(Vector256.Load(a.Scales + groupBase[v]), lanes), totalA);
                totalB = Fma.MultiplyAdd(dotB, Avx2.PermuteVar8x32(Vector256.Load(b.Scales + groupBase[v]), lanes), totalB);
                x += slotsPerVector;
            }
        }
    }

    // Codes that cross words. Each phase's shift table contains the offset of each lane's first code in its first row,
    // and the straddle's right and left shifts in rows FullSteps and FullSteps + 1.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StraddledRegion<TBits>(
        CodePlan plan,
        CodeRegion region,
        in RowInput a,
        in RowInput b,
        uint* lastWords,
        float* x,
        ref Vector256<float> totalA,
        ref Vector256<float> totalB)
        where TBits : struct, IBitWidth
    {
        int slotsPerVector = Lanes * plan.Steps;
        int period = plan.Period;
        int phaseStep = region.PhaseStep;
        uint* shifts = region.ShiftTable(0);
        int phaseStride = region.ShiftRows * Lanes;
        int phase = region.FirstPhase;
        var lowMask = Vector256.Create((1u << TBits.Bits) - 1);
        fixed (int* groupBase = region.GroupBase, groupLane = region.GroupLane)
        {
            for (int v = 0; v < region.VectorCount; v++)
            {
                uint* rows = shifts + phase * phaseStride;
                var align = Vector256.Load(rows);
                var right = Vector256.Load(rows + Lanes * TBits.FullSteps);
                var left = Vector256.Load(rows + Lanes * (TBits.FullSteps + 1));
                var wordA = Vector256.Load(a.Words + Lanes * v);
                var wordB = Vector256.Load(b.Words + Lanes * v);
                Steps<TBits>(
                    Avx2.ShiftRightLogicalVariable(wordA, align),
                    Avx2.ShiftRightLogicalVariable(wordB, align),
                    x,
                    out var dotA,
                    out var dotB);

                var nextA = NextWords(a, Lanes * v, lastWords);
                var nextB = NextWords(b, Lanes * v, lastWords);
                var straddleA = Avx2.ShiftRightLogicalVariable(wordA, right) | Avx2.ShiftLeftLogicalVariable(nextA, left);
                var straddleB = Avx2.ShiftRightLogicalVariable(wordB, right) | Avx2.ShiftLeftLogicalVariable(nextB, left);
                var xs = Vector256.Load(x + Lanes * TBits.FullSteps);
                dotA = Fma.MultiplyAdd(Avx.ConvertToVector256Single((straddleA & lowMask).AsInt32()), xs, dotA);
                dotB = Fma.MultiplyAdd(Avx.ConvertToVector256Single((straddleB & lowMask).AsInt32()), xs, dotB);

                var lanes = Vector256.Load(groupLane + Lanes * v);
                totalA = Fma.MultiplyAdd(dotA, Avx2.PermuteVar8x32(Vector256.Load(a.Scales + groupBase[v]), lanes), totalA);
                totalB = Fma.MultiplyAdd(dotB, Avx2.PermuteVar8x32(Vector256.Load(b.Scales + groupBase[v]), lanes), totalB);
                x += slotsPerVector;
                phase += phaseStep;
                phase = phase >= period ? phase - period : phase;
            }
        }
    }

    // The words one lane further on. The last vector of the matrix has no word after it, so that word is taken as 0
    // from a copy instead of read past the end of the data.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> NextWords(in RowInput row, int firstWord, uint* copy)
    {
        if (firstWord + Lanes < row.WordsAvailable)
        {
            return Vector256.Load(row.Words + firstWord + 1);
        }

        for (int i = 0; i < Lanes - 1; i++)
        {
            copy[i] = row.Words[firstWord + 1 + i];
        }

        copy[Lanes - 1] = 0;
        return Vector256.Load(copy);
    }

    // All full steps of one vector of two rows (TBits.FullSteps of them). The step numbers are literals, so every mask
    // and shift count is a constant, and typeof tests fold while the JIT imports the method, so that only one width's
    // steps count against the inlining budget.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Steps<TBits>(
        Vector256<uint> a, Vector256<uint> b, float* x, out Vector256<float> dotA, out Vector256<float> dotB)
        where TBits : struct, IBitWidth
    {
        var a0 = Vector256<float>.Zero;
        var a1 = Vector256<float>.Zero;
        var b0 = Vector256<float>.Zero;
        var b1 = Vector256<float>.Zero;
        Step<TBits>(a, b, 0, x, ref a0, ref b0);
        Step<TBits>(a, b, 1, x, ref a1, ref b1);
        Step<TBits>(a, b, 2, x, ref a0, ref b0);
        Step<TBits>(a, b, 3, x, ref a1, ref b1);
        if (typeof(TBits) != typeof(Bits8))
        {
            Step<TBits>(a, b, 4, x, ref a0, ref b0);
        }

        if (typeof(TBits) != typeof(Bits8) && typeof(TBits) != typeof(Bits6))
        {
            Step<TBits>(a, b, 5, x, ref a1, ref b1);
        }

        if (typeof(TBits) == typeof(Bits2) || typeof(TBits) == typeof(Bits3) || typeof(TBits) == typeof(Bits4))
        {
            Step<TBits>(a, b, 6, x, ref a0, ref b0);
            Step<TBits>(a, b, 7, x, ref a1, ref b1);
        }

        if (typeof(TBits) == typeof(Bits2) || typeof(TBits) == typeof(Bits3))
        {
            Step<TBits>(a, b, 8, x, ref a0, ref b0);
            Step<TBits>(a, b, 9, x, ref a1, ref b1);
        }

        if (typeof(TBits) == typeof(Bits2))
        {
            Step<TBits>(a, b, 10, x, ref a0, ref b0);
            Step<TBits>(a, b, 11, x, ref a1, ref b1);
            Step<TBits>(a, b, 12, x, ref a0, ref b0);
            Step<TBits>(a, b, 13, x, ref a1, ref b1);
            Step<TBits>(a, b, 14, x, ref a0, ref b0);
            Step<TBits>(a, b, 15, x, ref a1, ref b1);
        }

        dotA = a0 + a1;
        dotB = b0 + b1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step<TBits>(
        Vector256<uint> a, Vector256<uint> b, int k, float* x, ref Vector256<float> sumA, ref Vector256<float> sumB)
        where TBits : struct, IBitWidth
    {
        var activations = Vector256.Load(x + Lanes * k);
        sumA = Fma.MultiplyAdd(Code<TBits>(a, k), activations, sumA);
        sumB = Fma.MultiplyAdd(Code<TBits>(b, k), activations, sumB);
    }

    // Code k of every lane as a float, times 2^(bits·k) except for the top code of a word that codes fill exactly.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Code<TBits>(Vector256<uint> words, int k)
        where TBits : struct, IBitWidth
    {
        int bits = TBits.Bits;
        if (32 % bits == 0 && k == TBits.FullSteps - 1)
        {
            return Avx.ConvertToVector256Single(Vector256.ShiftRightLogical(words, 32 - bits).AsInt32());
        }

        uint mask = ((1u << bits) - 1) << (bits * k);
        return Avx.ConvertToVector256Single((words & Vector256.Create(mask)).AsInt32());
    }
}
