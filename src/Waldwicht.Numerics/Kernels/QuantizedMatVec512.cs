using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// The matrix-vector product of <see cref="QuantizedKernels"/> for AVX-512, tuned for streaming. It works on two rows
/// at once so that every activation vector it loads feeds two multiply-adds, unpacks codes with immediate shifts and
/// table lookups (<see cref="Simd512.CodesToSingle"/>), and reads F32 scales and biases in place. The 8- and 4-lane
/// regions and the scalar tail of a row reuse the generic kernels.
/// </summary>
/// <remarks>
/// <para>
/// Every AVX-512 instruction it needs goes through <see cref="Simd512"/>, which falls back to portable code on other
/// processors. The result is the same there, only slower, so the tests also compare this kernel with the scalar
/// reference on processors without AVX-512.
/// </para>
/// <para>
/// For codes of 3, 5 and 6 bits, each lane is first shifted by its own offset so that its codes sit at multiples of
/// the code width. Every further step is then a shift by a constant. A lane with one code fewer than the others reads part
/// of the code that continues into the next word in its last full step, and its slot in the permuted activations is
/// 0, so that product vanishes. In the 16-lane region the word index modulo the plan's period grows by one per
/// vector (16 ≡ 1 modulo 3 and 5), so vector v reads the shift counts of phase v mod period.
/// </para>
/// </remarks>
internal static unsafe class QuantizedMatVec512
{
    /// <summary>Floats of scratch that <see cref="MatVecRows{TBits}"/> needs.</summary>
    public static int ScratchLength(in QuantizedLayout matrix) => 4 * (matrix.GroupsPerRow + 16);

    /// <summary>
    /// Computes y[r] for rows <paramref name="rowStart"/> to <paramref name="rowEnd"/> − 1 from activations
    /// permuted by <paramref name="plan"/> and their per-group sums, which must be padded with zeros to a multiple of
    /// 16 groups.
    /// </summary>
    [SkipLocalsInit]
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
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
        var main = plan.Regions.Length > 0 && plan.Regions[0].Lanes == 16 ? plan.Regions[0] : null;
        bool remainder = plan.Regions.Length > (main is null ? 0 : 1) || plan.TailFirstCode < plan.Columns;
        uint* lastWords = stackalloc uint[16];
        int ahead = RowPrefetch.Distance(matrix);
        for (int row = rowStart; row < rowEnd; row += 2)
        {
            if (row + ahead + 1 < matrix.Rows)
            {
                RowPrefetch.Pair(matrix, row + ahead);
            }

            // An odd last row is computed twice, as both rows of the pair.
            int rowB = Math.Min(row + 1, rowEnd - 1);
            var a = new RowInput(matrix, row, scratch, scratch + stride, 16, KernelPath.Vector512);
            var b = new RowInput(matrix, rowB, scratch + 2 * stride, scratch + 3 * stride, 16, KernelPath.Vector512);
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
            y[row] = Vector512.Sum(totalA) + restA;
            if (rowB != row)
            {
                float restB = remainder ? Remainder<TBits>(plan, main, b, permutedX) : 0;
                y[rowB] = Vector512.Sum(totalB) + restB;
            }
        }
    }

    // Σ_g bias_g·Σx_g as a vector of partial sums. The group sums are padded with zeros, and the biases are read
    // through a masked load past the row's last group, so that nothing beyond the array is touched.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> BiasTerm(in QuantizedLayout matrix, float* biases, float* groupSums)
    {
        int groups = matrix.GroupsPerRow;
        var total = Vector512<float>.Zero;
        int g = 0;
        for (; g + 16 <= groups; g += 16)
        {
            total = Vector512.FusedMultiplyAdd(Vector512.Load(biases + g), Vector512.Load(groupSums + g), total);
        }

        if (g < groups)
        {
            var tail = Simd512.LoadFirst(biases + g, groups - g);
            total = Vector512.FusedMultiplyAdd(tail, Vector512.Load(groupSums + g), total);
        }

        return total;
    }

    // The 8- and 4-lane regions and the scalar tail of one row.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static float Remainder<TBits>(CodePlan plan, CodeRegion? main, in RowInput row, float* permutedX)
        where TBits : struct, IBitWidth
    {
        float sum = 0;
        for (int r = main is null ? 0 : 1; r < plan.Regions.Length; r++)
        {
            var region = plan.Regions[r];
            sum += region.Lanes == 8
                ? QuantizedKernels.DotRegion<Simd256, Vector256<float>, TBits>(plan, region, row.Words, row.WordsAvailable, permutedX, row.Scales)
                : QuantizedKernels.DotRegion<Simd128, Vector128<float>, TBits>(plan, region, row.Words, row.WordsAvailable, permutedX, row.Scales);
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
        CodePlan plan, CodeRegion region, in RowInput a, in RowInput b, float* x, ref Vector512<float> totalA, ref Vector512<float> totalB)
        where TBits : struct, IBitWidth
    {
        var table = Simd512.CodeTable(TBits.Bits, out var tableHigh);
        int slotsPerVector = 16 * plan.Steps;
        fixed (int* groupBase = region.GroupBase, groupLane = region.GroupLane)
        {
            for (int v = 0; v < region.VectorCount; v++)
            {
                var wordA = Vector512.Load(a.Words + 16 * v).AsSingle();
                var wordB = Vector512.Load(b.Words + 16 * v).AsSingle();
                Steps<TBits>(wordA, wordB, table, tableHigh, x, out var dotA, out var dotB);
                var lanes = Vector512.Load(groupLane + 16 * v);
                totalA = Vector512.FusedMultiplyAdd(dotA, Simd512.Permute(Vector512.Load(a.Scales + groupBase[v]), lanes), totalA);
                totalB = Vector512.FusedMultiplyAdd(dotB, Simd512.Permute(Vector512.Load(b.Scales + groupBase[v]), lanes), totalB);
                x += slotsPerVector;
            }
        }
    }

    // Codes that cross words. The shift counts of the phases sit next to each other in the region's table: the
    // offset of each lane's first code, then the straddle's right and left shifts.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StraddledRegion<TBits>(
        CodePlan plan,
        CodeRegion region,
        in RowInput a,
        in RowInput b,
        uint* lastWords,
        float* x,
        ref Vector512<float> totalA,
        ref Vector512<float> totalB)
        where TBits : struct, IBitWidth
    {
        var table = Simd512.CodeTable(TBits.Bits, out var tableHigh);
        int slotsPerVector = 16 * plan.Steps;
        int period = plan.Period;
        uint* shifts = region.ShiftTable(0);
        int phaseStride = region.ShiftRows * 16;
        int phase = 0;
        fixed (int* groupBase = region.GroupBase, groupLane = region.GroupLane)
        {
            for (int v = 0; v < region.VectorCount; v++)
            {
                uint* rows = shifts + phase * phaseStride;
                var align = Vector512.Load(rows);
                var right = Vector512.Load(rows + 16 * TBits.FullSteps);
                var left = Vector512.Load(rows + 16 * (TBits.FullSteps + 1));
                var wordA = Vector512.Load(a.Words + 16 * v);
                var wordB = Vector512.Load(b.Words + 16 * v);
                var alignedA = Simd512.ShiftRightWords(wordA, align).AsSingle();
                var alignedB = Simd512.ShiftRightWords(wordB, align).AsSingle();
                Steps<TBits>(alignedA, alignedB, table, tableHigh, x, out var dotA, out var dotB);

                var nextA = NextWords(a, 16 * v, lastWords);
                var nextB = NextWords(b, 16 * v, lastWords);
                var straddleA = Simd512.ShiftRightWords(wordA, right) | Simd512.ShiftLeftWords(nextA, left);
                var straddleB = Simd512.ShiftRightWords(wordB, right) | Simd512.ShiftLeftWords(nextB, left);
                var xs = Vector512.Load(x + 16 * TBits.FullSteps);
                dotA = Vector512.FusedMultiplyAdd(Simd512.CodesToSingle(straddleA.AsSingle(), table, tableHigh, TBits.Bits), xs, dotA);
                dotB = Vector512.FusedMultiplyAdd(Simd512.CodesToSingle(straddleB.AsSingle(), table, tableHigh, TBits.Bits), xs, dotB);

                var lanes = Vector512.Load(groupLane + 16 * v);
                totalA = Vector512.FusedMultiplyAdd(dotA, Simd512.Permute(Vector512.Load(a.Scales + groupBase[v]), lanes), totalA);
                totalB = Vector512.FusedMultiplyAdd(dotB, Simd512.Permute(Vector512.Load(b.Scales + groupBase[v]), lanes), totalB);
                x += slotsPerVector;
                phase = phase + 1 == period ? 0 : phase + 1;
            }
        }
    }

    // The words one lane further on. The last vector of the matrix has no word after it, so that word is taken as 0
    // from a copy instead of read past the end of the data.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> NextWords(in RowInput row, int firstWord, uint* copy)
    {
        if (firstWord + 16 < row.WordsAvailable)
        {
            return Vector512.Load(row.Words + firstWord + 1);
        }

        for (int i = 0; i < 15; i++)
        {
            copy[i] = row.Words[firstWord + 1 + i];
        }

        copy[15] = 0;
        return Vector512.Load(copy);
    }

    // All full steps of one vector of two rows: step k takes the code at bit k·bits of every lane. The shift counts
    // are literals so that the JIT emits immediate shifts.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Steps<TBits>(
        Vector512<float> a,
        Vector512<float> b,
        Vector512<float> table,
        Vector512<float> tableHigh,
        float* x,
        out Vector512<float> dotA,
        out Vector512<float> dotB)
        where TBits : struct, IBitWidth
    {
        var a0 = Vector512<float>.Zero;
        var a1 = Vector512<float>.Zero;
        var b0 = Vector512<float>.Zero;
        var b1 = Vector512<float>.Zero;
        var a2 = Vector512<float>.Zero;
        var a3 = Vector512<float>.Zero;
        var b2 = Vector512<float>.Zero;
        var b3 = Vector512<float>.Zero;
        Step<TBits>(a, b, table, tableHigh, x, ref a0, ref b0);

        // typeof tests fold while the JIT imports the method, so only one width's steps are compiled and inlined.
        if (typeof(TBits) == typeof(Bits2))
        {
            Step<TBits>(Shift(a, 2), Shift(b, 2), table, tableHigh, x + 16, ref a1, ref b1);
            Step<TBits>(Shift(a, 4), Shift(b, 4), table, tableHigh, x + 32, ref a2, ref b2);
            Step<TBits>(Shift(a, 6), Shift(b, 6), table, tableHigh, x + 48, ref a3, ref b3);
            Step<TBits>(Shift(a, 8), Shift(b, 8), table, tableHigh, x + 64, ref a0, ref b0);
            Step<TBits>(Shift(a, 10), Shift(b, 10), table, tableHigh, x + 80, ref a1, ref b1);
            Step<TBits>(Shift(a, 12), Shift(b, 12), table, tableHigh, x + 96, ref a2, ref b2);
            Step<TBits>(Shift(a, 14), Shift(b, 14), table, tableHigh, x + 112, ref a3, ref b3);
            Step<TBits>(Shift(a, 16), Shift(b, 16), table, tableHigh, x + 128, ref a0, ref b0);
            Step<TBits>(Shift(a, 18), Shift(b, 18), table, tableHigh, x + 144, ref a1, ref b1);
            Step<TBits>(Shift(a, 20), Shift(b, 20), table, tableHigh, x + 160, ref a2, ref b2);
            Step<TBits>(Shift(a, 22), Shift(b, 22), table, tableHigh, x + 176, ref a3, ref b3);
            Step<TBits>(Shift(a, 24), Shift(b, 24), table, tableHigh, x + 192, ref a0, ref b0);
            Step<TBits>(Shift(a, 26), Shift(b, 26), table, tableHigh, x + 208, ref a1, ref b1);
            Step<TBits>(Shift(a, 28), Shift(b, 28), table, tableHigh, x + 224, ref a2, ref b2);
            Step<TBits>(Shift(a, 30), Shift(b, 30), table, tableHigh, x + 240, ref a3, ref b3);
        }
        else if (typeof(TBits) == typeof(Bits3))
        {
            Step<TBits>(Shift(a, 3), Shift(b, 3), table, tableHigh, x + 16, ref a0, ref b0);
            Step<TBits>(Shift(a, 6), Shift(b, 6), table, tableHigh, x + 32, ref a1, ref b1);
            Step<TBits>(Shift(a, 9), Shift(b, 9), table, tableHigh, x + 48, ref a2, ref b2);
            Step<TBits>(Shift(a, 12), Shift(b, 12), table, tableHigh, x + 64, ref a3, ref b3);
            Step<TBits>(Shift(a, 15), Shift(b, 15), table, tableHigh, x + 80, ref a0, ref b0);
            Step<TBits>(Shift(a, 18), Shift(b, 18), table, tableHigh, x + 96, ref a1, ref b1);
            Step<TBits>(Shift(a, 21), Shift(b, 21), table, tableHigh, x + 112, ref a2, ref b2);
            Step<TBits>(Shift(a, 24), Shift(b, 24), table, tableHigh, x + 128, ref a3, ref b3);
            Step<TBits>(Shift(a, 27), Shift(b, 27), table, tableHigh, x + 144, ref a0, ref b0);
        }
        else if (typeof(TBits) == typeof(Bits4))
        {
            Step<TBits>(Shift(a, 4), Shift(b, 4), table, tableHigh, x + 16, ref a1, ref b1);
            Step<TBits>(Shift(a, 8), Shift(b, 8), table, tableHigh, x + 32, ref a2, ref b2);
            Step<TBits>(Shift(a, 12), Shift(b, 12), table, tableHigh, x + 48, ref a3, ref b3);
            Step<TBits>(Shift(a, 16), Shift(b, 16), table, tableHigh, x + 64, ref a0, ref b0);
            Step<TBits>(Shift(a, 20), Shift(b, 20), table, tableHigh, x + 80, ref a1, ref b1);
            Step<TBits>(Shift(a, 24), Shift(b, 24), table, tableHigh, x + 96, ref a2, ref b2);
            Step<TBits>(Shift(a, 28), Shift(b, 28), table, tableHigh, x + 112, ref a3, ref b3);
        }
        else if (typeof(TBits) == typeof(Bits5))
        {
            Step<TBits>(Shift(a, 5), Shift(b, 5), table, tableHigh, x + 16, ref a0, ref b0);
            Step<TBits>(Shift(a, 10), Shift(b, 10), table, tableHigh, x + 32, ref a1, ref b1);
            Step<TBits>(Shift(a, 15), Shift(b, 15), table, tableHigh, x + 48, ref a2, ref b2);
            Step<TBits>(Shift(a, 20), Shift(b, 20), table, tableHigh, x + 64, ref a3, ref b3);
            Step<TBits>(Shift(a, 25), Shift(b, 25), table, tableHigh, x + 80, ref a0, ref b0);
        }
        else if (typeof(TBits) == typeof(Bits6))
        {
            Step<TBits>(Shift(a, 6), Shift(b, 6), table, tableHigh, x + 16, ref a1, ref b1);
            Step<TBits>(Shift(a, 12), Shift(b, 12), table, tableHigh, x + 32, ref a2, ref b2);
            Step<TBits>(Shift(a, 18), Shift(b, 18), table, tableHigh, x + 48, ref a3, ref b3);
            Step<TBits>(Shift(a, 24), Shift(b, 24), table, tableHigh, x + 64, ref a0, ref b0);
        }
        else
        {
            Step<TBits>(Shift(a, 8), Shift(b, 8), table, tableHigh, x + 16, ref a1, ref b1);
            Step<TBits>(Shift(a, 16), Shift(b, 16), table, tableHigh, x + 32, ref a2, ref b2);
            Step<TBits>(Shift(a, 24), Shift(b, 24), table, tableHigh, x + 48, ref a3, ref b3);
        }

        dotA = (a0 + a1) + (a2 + a3);
        dotB = (b0 + b1) + (b2 + b3);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Shift(Vector512<float> words, int count) =>
        Vector512.ShiftRightLogical(words.AsUInt32(), count).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Step<TBits>(
        Vector512<float> a,
        Vector512<float> b,
        Vector512<float> table,
        Vector512<float> tableHigh,
        float* x,
        ref Vector512<float> sumA,
        ref Vector512<float> sumB)
        where TBits : struct, IBitWidth
    {
        var activations = Vector512.Load(x);
        sumA = Vector512.FusedMultiplyAdd(Simd512.CodesToSingle(a, table, tableHigh, TBits.Bits), activations, sumA);
        sumB = Vector512.FusedMultiplyAdd(Simd512.CodesToSingle(b, table, tableHigh, TBits.Bits), activations, sumB);
    }
}
