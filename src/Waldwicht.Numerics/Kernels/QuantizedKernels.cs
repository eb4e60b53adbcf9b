using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// Vector kernels for MLX affine-quantized rows that unpack codes in registers, in the slot order of a
/// <see cref="CodePlan"/>. Nothing is dequantized into memory except by <see cref="DequantizeRows"/>, which fills
/// a small tile for the matrix-matrix product.
/// </summary>
internal static unsafe class QuantizedKernels
{
    /// <summary>Floats of scratch that <see cref="MatVecRows"/> and <see cref="DequantizeRows"/> need.</summary>
    public static int ScratchLength(in QuantizedLayout matrix) => 4 * (matrix.GroupsPerRow + 16);

    /// <summary>
    /// Computes y[r] for rows <paramref name="rowStart"/> to <paramref name="rowEnd"/> − 1 as
    /// Σ_g scale_g·Σ(x·code) + bias_g·Σx, from activations permuted by <paramref name="plan"/> and their
    /// per-group sums (in natural order).
    /// </summary>
    public static void MatVecRows(
        in QuantizedLayout matrix,
        CodePlan plan,
        KernelPath path,
        float* permutedX,
        float* groupSums,
        int rowStart,
        int rowEnd,
        float* y,
        float* scratch)
    {
        switch (matrix.Bits)
        {
            case 2:
                MatVecRows<Bits2>(matrix, plan, path, permutedX, groupSums, rowStart, rowEnd, y, scratch);
                break;
            case 3:
                MatVecRows<Bits3>(matrix, plan, path, permutedX, groupSums, rowStart, rowEnd, y, scratch);
                break;
            case 4:
                MatVecRows<Bits4>(matrix, plan, path, permutedX, groupSums, rowStart, rowEnd, y, scratch);
                break;
            case 5:
                MatVecRows<Bits5>(matrix, plan, path, permutedX, groupSums, rowStart, rowEnd, y, scratch);
                break;
            case 6:
                MatVecRows<Bits6>(matrix, plan, path, permutedX, groupSums, rowStart, rowEnd, y, scratch);
                break;
            case 8:
                MatVecRows<Bits8>(matrix, plan, path, permutedX, groupSums, rowStart, rowEnd, y, scratch);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(matrix), matrix.Bits, "Bits must be 2, 3, 4, 5, 6 or 8.");
        }
    }

    /// <summary>
    /// Writes <paramref name="rowCount"/> dequantized rows (code·scale + bias, fused where the hardware has FMA)
    /// in the slot order of <paramref name="plan"/>, <see cref="CodePlan.PermutedLength"/> floats per row. Empty
    /// slots get finite values that meet an activation of 0.
    /// </summary>
    public static void DequantizeRows(
        in QuantizedLayout matrix, CodePlan plan, KernelPath path, int rowStart, int rowCount, float* tile, float* scratch)
    {
        switch (matrix.Bits)
        {
            case 2:
                DequantizeRows<Bits2>(matrix, plan, path, rowStart, rowCount, tile, scratch);
                break;
            case 3:
                DequantizeRows<Bits3>(matrix, plan, path, rowStart, rowCount, tile, scratch);
                break;
            case 4:
                DequantizeRows<Bits4>(matrix, plan, path, rowStart, rowCount, tile, scratch);
                break;
            case 5:
                DequantizeRows<Bits5>(matrix, plan, path, rowStart, rowCount, tile, scratch);
                break;
            case 6:
                DequantizeRows<Bits6>(matrix, plan, path, rowStart, rowCount, tile, scratch);
                break;
            case 8:
                DequantizeRows<Bits8>(matrix, plan, path, rowStart, rowCount, tile, scratch);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(matrix), matrix.Bits, "Bits must be 2, 3, 4, 5, 6 or 8.");
        }
    }

    /// <summary>
    /// Writes one activation row in the slot order of <paramref name="plan"/>, in the form that
    /// <see cref="MatVecRows"/> reads on <paramref name="path"/>: scaled per step for the AVX2 kernel
    /// (<see cref="QuantizedMatVec256"/>), plain otherwise.
    /// </summary>
    public static void PermuteForMatVec(CodePlan plan, KernelPath path, float* x, float* permuted)
    {
        if (UsesScaledActivations(path))
        {
            plan.PermuteScaled(x, permuted, QuantizedMatVec256.Lanes, QuantizedMatVec256.ActivationFactors(plan.Bits));
        }
        else
        {
            plan.Permute(x, permuted);
        }
    }

    /// <summary>Computes the sum of x over every quantization group.</summary>
    public static void GroupSums(float* x, int columns, int groupSize, float* sums, KernelPath path)
    {
        for (int g = 0; g < columns / groupSize; g++)
        {
            float* group = x + g * groupSize;
            sums[g] = path switch
            {
                KernelPath.Vector512 => Sum<Simd512, Vector512<float>>(group, groupSize),
                KernelPath.Vector256 => Sum<Simd256, Vector256<float>>(group, groupSize),
                KernelPath.Vector128 => Sum<Simd128, Vector128<float>>(group, groupSize),
                _ => SumScalar(group, groupSize),
            };
        }
    }

    private static bool UsesScaledActivations(KernelPath path) =>
        path == KernelPath.Vector256 && QuantizedMatVec256.IsSupported;

    private static float Sum<TSimd, TVector>(float* values, int length)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
    {
        var sum = TSimd.Zero;
        for (int i = 0; i < length; i += TSimd.Lanes)
        {
            sum = TSimd.Add(sum, TSimd.Load(values + i));
        }

        return TSimd.Sum(sum);
    }

    private static float SumScalar(float* values, int length)
    {
        float sum = 0;
        for (int i = 0; i < length; i++)
        {
            sum += values[i];
        }

        return sum;
    }

    private static void MatVecRows<TBits>(
        in QuantizedLayout matrix,
        CodePlan plan,
        KernelPath path,
        float* permutedX,
        float* groupSums,
        int rowStart,
        int rowEnd,
        float* y,
        float* scratch)
        where TBits : struct, IBitWidth
    {
        if (path == KernelPath.Vector512)
        {
            QuantizedMatVec512.MatVecRows<TBits>(matrix, plan, permutedX, groupSums, rowStart, rowEnd, y, scratch);
            return;
        }

        if (UsesScaledActivations(path))
        {
            QuantizedMatVec256.MatVecRows<TBits>(matrix, plan, permutedX, groupSums, rowStart, rowEnd, y, scratch);
            return;
        }

        int groups = matrix.GroupsPerRow;
        int groupShift = BitOperations.Log2((uint)matrix.GroupSize);
        float* scales = scratch;
        float* biases = scratch + groups + 16;
        for (int row = rowStart; row < rowEnd; row++)
        {
            long groupOffset = (long)row * groups;
            ElementKernels.ToSingle(matrix.Scales, matrix.ScaleType, groupOffset, scales, groups, path);
            ElementKernels.ToSingle(matrix.Biases, matrix.ScaleType, groupOffset, biases, groups, path);
            uint* words = matrix.RowWords(row);
            long wordsAvailable = (long)(matrix.Rows - row) * matrix.WordsPerRow;

            float sum = 0;
            foreach (var region in plan.Regions)
            {
                sum += region.Lanes switch
                {
                    16 => DotRegion<Simd512, Vector512<float>, TBits>(plan, region, words, wordsAvailable, permutedX, scales),
                    8 => DotRegion<Simd256, Vector256<float>, TBits>(plan, region, words, wordsAvailable, permutedX, scales),
                    _ => DotRegion<Simd128, Vector128<float>, TBits>(plan, region, words, wordsAvailable, permutedX, scales),
                };
            }

            float* tailX = permutedX + plan.TailFirstSlot - plan.TailFirstCode;
            for (int c = plan.TailFirstCode; c < plan.Columns; c++)
            {
                sum += scales[c >> groupShift] * (QuantizedLayout.ExtractCode(words, c, TBits.Bits) * tailX[c]);
            }

            y[row] = sum + ElementKernels.Dot(biases, groupSums, groups, path);
        }
    }

    private static void DequantizeRows<TBits>(
        in QuantizedLayout matrix, CodePlan plan, KernelPath path, int rowStart, int rowCount, float* tile, float* scratch)
        where TBits : struct, IBitWidth
    {
        int groups = matrix.GroupsPerRow;
        int groupShift = BitOperations.Log2((uint)matrix.GroupSize);
        float* scales = scratch;
        float* biases = scratch + groups + 16;
        for (int i = 0; i < rowCount; i++)
        {
            int row = rowStart + i;
            long groupOffset = (long)row * groups;
            ElementKernels.ToSingle(matrix.Scales, matrix.ScaleType, groupOffset, scales, groups, path);
            ElementKernels.ToSingle(matrix.Biases, matrix.ScaleType, groupOffset, biases, groups, path);
            uint* words = matrix.RowWords(row);
            long wordsAvailable = (long)(matrix.Rows - row) * matrix.WordsPerRow;
            float* destination = tile + (long)i * plan.PermutedLength;

            foreach (var region in plan.Regions)
            {
                switch (region.Lanes)
                {
                    case 16:
                        DequantizeRegion<Simd512, Vector512<float>, TBits>(
                            plan, region, words, wordsAvailable, scales, biases, destination);
                        break;
                    case 8:
                        DequantizeRegion<Simd256, Vector256<float>, TBits>(
                            plan, region, words, wordsAvailable, scales, biases, destination);
                        break;
                    default:
                        DequantizeRegion<Simd128, Vector128<float>, TBits>(
                            plan, region, words, wordsAvailable, scales, biases, destination);
                        break;
                }
            }

            float* tail = destination + plan.TailFirstSlot - plan.TailFirstCode;
            for (int c = plan.TailFirstCode; c < plan.Columns; c++)
            {
                float product = QuantizedLayout.ExtractCode(words, c, TBits.Bits) * scales[c >> groupShift];
                tail[c] = product + biases[c >> groupShift];
            }
        }
    }

    [SkipLocalsInit]
    internal static float DotRegion<TSimd, TVector, TBits>(
        CodePlan plan, CodeRegion region, uint* words, long wordsAvailable, float* permutedX, float* scales)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
        where TBits : struct, IBitWidth
    {
        int lanes = TSimd.Lanes;
        bool straddles = 32 % TBits.Bits != 0;
        int slotsPerVector = lanes * (TBits.FullSteps + (straddles ? 1 : 0));
        uint* shifts = region.ShiftTable(0);
        int shiftsPerPhase = region.ShiftRows * lanes;
        uint* lastWords = stackalloc uint[16];
        float* x = permutedX + region.FirstSlot;
        int phase = region.FirstPhase;
        var table = TSimd.CodeTable(TBits.Bits, out var tableHigh);
        var total = TSimd.Zero;
        fixed (int* groupBase = region.GroupBase, groupLane = region.GroupLane)
        {
            for (int v = 0; v < region.VectorCount; v++)
            {
                int firstWord = region.FirstWord + v * lanes;
                var word = TSimd.LoadWords(words + firstWord);
                TVector dot;
                if (straddles)
                {
                    var next = LoadNextWords<TSimd, TVector>(words, firstWord, wordsAvailable, lastWords);
                    dot = DotStraddled<TSimd, TVector, TBits>(word, next, shifts + phase * shiftsPerPhase, table, tableHigh, x);
                    phase += region.PhaseStep;
                    phase = phase >= plan.Period ? phase - plan.Period : phase;
                }
                else
                {
                    dot = DotWholeWords<TSimd, TVector, TBits>(word, table, tableHigh, x);
                }

                var scale = TSimd.Gather(scales + groupBase[v], groupLane + v * lanes);
                total = TSimd.MultiplyAdd(dot, scale, total);
                x += slotsPerVector;
            }
        }

        return TSimd.Sum(total);
    }

    [SkipLocalsInit]
    private static void DequantizeRegion<TSimd, TVector, TBits>(
        CodePlan plan, CodeRegion region, uint* words, long wordsAvailable, float* scales, float* biases, float* destination)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
        where TBits : struct, IBitWidth
    {
        int lanes = TSimd.Lanes;
        int bits = TBits.Bits;
        uint mask = (1u << bits) - 1;
        bool straddles = 32 % bits != 0;
        int fullSteps = TBits.FullSteps;
        uint* shifts = region.ShiftTable(0);
        int shiftsPerPhase = region.ShiftRows * lanes;
        uint* lastWords = stackalloc uint[16];
        float* output = destination + region.FirstSlot;
        int phase = region.FirstPhase;
        var codeTable = TSimd.CodeTable(bits, out var codeTableHigh);
        fixed (int* groupBase = region.GroupBase, groupLane = region.GroupLane)
        {
            for (int v = 0; v < region.VectorCount; v++)
            {
                int firstWord = region.FirstWord + v * lanes;
                var word = TSimd.LoadWords(words + firstWord);
                var scale = TSimd.Gather(scales + groupBase[v], groupLane + v * lanes);
                var bias = TSimd.Gather(biases + groupBase[v], groupLane + v * lanes);
                if (straddles)
                {
                    var next = LoadNextWords<TSimd, TVector>(words, firstWord, wordsAvailable, lastWords);
                    uint* table = shifts + phase * shiftsPerPhase;
                    for (int k = 0; k < fullSteps; k++)
                    {
                        var code = TSimd.AndWords(TSimd.ShiftRightWords(word, table + k * lanes), mask);
                        TSimd.Store(output + k * lanes, TSimd.MultiplyAdd(TSimd.WordsToSingle(code), scale, bias));
                    }

                    var straddle = StraddleCode<TSimd, TVector, TBits>(word, next, table, codeTable, codeTableHigh);
                    TSimd.Store(output + fullSteps * lanes, TSimd.MultiplyAdd(straddle, scale, bias));
                    output += (fullSteps + 1) * lanes;
                    phase += region.PhaseStep;
                    phase = phase >= plan.Period ? phase - plan.Period : phase;
                }
                else
                {
                    for (int k = 0; k < fullSteps; k++)
                    {
                        var code = TSimd.AndWords(TSimd.ShiftRightWords(word, k * bits), mask);
                        TSimd.Store(output + k * lanes, TSimd.MultiplyAdd(TSimd.WordsToSingle(code), scale, bias));
                    }

                    output += fullSteps * lanes;
                }
            }
        }
    }

    // The words one lane further on. The last vector of the matrix has no word after it, so that one word is
    // taken as 0 from a copy instead of read past the end of the data.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector LoadNextWords<TSimd, TVector>(uint* words, int firstWord, long wordsAvailable, uint* copy)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
    {
        int lanes = TSimd.Lanes;
        if (firstWord + lanes < wordsAvailable)
        {
            return TSimd.LoadWords(words + firstWord + 1);
        }

        for (int i = 0; i < lanes - 1; i++)
        {
            copy[i] = words[firstWord + 1 + i];
        }

        copy[lanes - 1] = 0;
        return TSimd.LoadWords(copy);
    }

    // Codes of 2, 4 and 8 bits never straddle words, so step k is a shift by the constant k·bits. The shift counts
    // are written out as literals so that the JIT emits immediate shifts.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static TVector DotWholeWords<TSimd, TVector, TBits>(TVector word, TVector table, TVector tableHigh, float* x)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
        where TBits : struct, IBitWidth
    {
        int lanes = TSimd.Lanes;
        int bits = TBits.Bits;
        var sum0 = TSimd.Zero;
        var sum1 = TSimd.Zero;
        if (TBits.Bits == 2)
        {
            sum0 = WordStep<TSimd, TVector>(word, table, tableHigh, bits, x, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 2), table, tableHigh, bits, x + lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 4), table, tableHigh, bits, x + 2 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 6), table, tableHigh, bits, x + 3 * lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 8), table, tableHigh, bits, x + 4 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 10), table, tableHigh, bits, x + 5 * lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 12), table, tableHigh, bits, x + 6 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 14), table, tableHigh, bits, x + 7 * lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 16), table, tableHigh, bits, x + 8 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 18), table, tableHigh, bits, x + 9 * lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 20), table, tableHigh, bits, x + 10 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 22), table, tableHigh, bits, x + 11 * lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 24), table, tableHigh, bits, x + 12 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 26), table, tableHigh, bits, x + 13 * lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 28), table, tableHigh, bits, x + 14 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 30), table, tableHigh, bits, x + 15 * lanes, sum1);
        }
        else if (TBits.Bits == 4)
        {
            sum0 = WordStep<TSimd, TVector>(word, table, tableHigh, bits, x, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 4), table, tableHigh, bits, x + lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 8), table, tableHigh, bits, x + 2 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 12), table, tableHigh, bits, x + 3 * lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 16), table, tableHigh, bits, x + 4 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 20), table, tableHigh, bits, x + 5 * lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 24), table, tableHigh, bits, x + 6 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 28), table, tableHigh, bits, x + 7 * lanes, sum1);
        }
        else
        {
            sum0 = WordStep<TSimd, TVector>(word, table, tableHigh, bits, x, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 8), table, tableHigh, bits, x + lanes, sum1);
            sum0 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 16), table, tableHigh, bits, x + 2 * lanes, sum0);
            sum1 = WordStep<TSimd, TVector>(TSimd.ShiftRightWords(word, 24), table, tableHigh, bits, x + 3 * lanes, sum1);
        }

        return TSimd.Add(sum0, sum1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector WordStep<TSimd, TVector>(TVector shifted, TVector table, TVector tableHigh, int bits, float* x, TVector sum)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged =>
        TSimd.MultiplyAdd(TSimd.CodesToSingle(shifted, table, tableHigh, bits), TSimd.Load(x), sum);

    // Codes of 3, 5 and 6 bits: step k shifts each lane by its own count from the phase's table, and a last step
    // joins the code that continues into the next word. Steps are written out so that k is a constant.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector DotStraddled<TSimd, TVector, TBits>(TVector word, TVector next, uint* shifts, TVector table, TVector tableHigh, float* x)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
        where TBits : struct, IBitWidth
    {
        int lanes = TSimd.Lanes;
        int fullSteps = TBits.FullSteps;
        var sum0 = TSimd.Zero;
        var sum1 = TSimd.Zero;
        sum0 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 0, x, sum0);
        sum1 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 1, x, sum1);
        sum0 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 2, x, sum0);
        sum1 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 3, x, sum1);
        sum0 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 4, x, sum0);
        if (fullSteps > 5)
        {
            sum1 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 5, x, sum1);
        }

        if (fullSteps > 6)
        {
            sum0 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 6, x, sum0);
            sum1 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 7, x, sum1);
            sum0 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 8, x, sum0);
            sum1 = ShiftStep<TSimd, TVector, TBits>(word, shifts, table, tableHigh, 9, x, sum1);
        }

        var straddle = StraddleCode<TSimd, TVector, TBits>(word, next, shifts, table, tableHigh);
        sum0 = TSimd.MultiplyAdd(straddle, TSimd.Load(x + fullSteps * lanes), sum0);
        return TSimd.Add(sum0, sum1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector ShiftStep<TSimd, TVector, TBits>(TVector word, uint* shifts, TVector table, TVector tableHigh, int k, float* x, TVector sum)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
        where TBits : struct, IBitWidth
    {
        int lanes = TSimd.Lanes;
        var code = TSimd.CodesToSingle(TSimd.ShiftRightWords(word, shifts + k * lanes), table, tableHigh, TBits.Bits);
        return TSimd.MultiplyAdd(code, TSimd.Load(x + k * lanes), sum);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TVector StraddleCode<TSimd, TVector, TBits>(
        TVector word, TVector next, uint* shifts, TVector table, TVector tableHigh)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
        where TBits : struct, IBitWidth
    {
        int lanes = TSimd.Lanes;
        int fullSteps = TBits.FullSteps;
        var low = TSimd.ShiftRightWords(word, shifts + fullSteps * lanes);
        var high = TSimd.ShiftLeftWords(next, shifts + (fullSteps + 1) * lanes);
        return TSimd.CodesToSingle(TSimd.OrWords(low, high), table, tableHigh, TBits.Bits);
    }
}
