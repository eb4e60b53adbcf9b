using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// One row's packed words, and its scales and biases as floats, for the two-row matrix-vector kernels: in place for
/// F32 where loads of <paramref name="lanes"/> floats stay inside the arrays, otherwise converted into scratch.
/// </summary>
internal readonly unsafe struct RowInput
{
    public readonly uint* Words;
    public readonly long WordsAvailable;
    public readonly float* Scales;
    public readonly float* Biases;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public RowInput(in QuantizedLayout matrix, int row, float* scaleScratch, float* biasScratch, int lanes, KernelPath path)
    {
        int groups = matrix.GroupsPerRow;
        long offset = (long)row * groups;
        Words = matrix.RowWords(row);
        WordsAvailable = (long)(matrix.Rows - row) * matrix.WordsPerRow;
        if (matrix.ScaleType == ElementType.F32 && offset + groups + lanes <= (long)matrix.Rows * groups)
        {
            Scales = (float*)matrix.Scales + offset;
            Biases = (float*)matrix.Biases + offset;
        }
        else
        {
            ElementKernels.ToSingle(matrix.Scales, matrix.ScaleType, offset, scaleScratch, groups, path);
            ElementKernels.ToSingle(matrix.Biases, matrix.ScaleType, offset, biasScratch, groups, path);
            Scales = scaleScratch;
            Biases = biasScratch;
        }
    }
}

/// <summary>Software prefetch of the rows a two-row matrix-vector kernel reads next.</summary>
internal static unsafe class RowPrefetch
{
    // The hardware prefetchers stop at 4 KB page boundaries and fall behind while the loop computes, so each pair of
    // rows first requests the packed words about this many bytes ahead, with their scales and biases. On one Zen 4
    // core this streamed about 1.7× faster with the AVX-512 kernel, and 2 KB ahead measured best there.
    // NOTE: the AVX2 kernel uses the same distance untuned.
    private const int Bytes = 2048;

    /// <summary>Rows between the pair being computed and the pair to prefetch: at least 2.</summary>
    public static int Distance(in QuantizedLayout matrix)
    {
        int rowBytes = matrix.WordsPerRow * sizeof(uint);
        return Math.Max(2, (Bytes + rowBytes - 1) / rowBytes);
    }

    /// <summary>Requests rows <paramref name="row"/> and <paramref name="row"/> + 1 with their scales and biases.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Pair(in QuantizedLayout matrix, int row)
    {
        int rowBytes = matrix.WordsPerRow * sizeof(uint);
        int parameterBytes = matrix.GroupsPerRow * matrix.ScaleType.Size();
        Lines((byte*)matrix.RowWords(row), 2 * rowBytes);
        Lines((byte*)matrix.Scales + (long)row * parameterBytes, 2 * parameterBytes);
        Lines((byte*)matrix.Biases + (long)row * parameterBytes, 2 * parameterBytes);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Lines(byte* start, int bytes)
    {
        if (!Sse.IsSupported)
        {
            return;
        }

        for (int offset = 0; offset < bytes; offset += 64)
        {
            Sse.Prefetch0(start + offset);
        }
    }
}
