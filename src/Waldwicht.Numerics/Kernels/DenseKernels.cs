using System.Runtime.Intrinsics;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>Row dot products of dense F32, BF16 and F16 matrices, widening 16-bit elements in registers.</summary>
internal static unsafe class DenseKernels
{
    /// <summary>Computes y[r] = Σ_c W[r, c]·x[c] for rows <paramref name="rowStart"/> to <paramref name="rowEnd"/> − 1.</summary>
    public static void MatVecRows(
        void* data, ElementType type, int columns, KernelPath path, float* x, int rowStart, int rowEnd, float* y)
    {
        for (int row = rowStart; row < rowEnd; row++)
        {
            long offset = (long)row * columns;
            y[row] = type == ElementType.F32
                ? ElementKernels.Dot((float*)data + offset, x, columns, path)
                : DotRow((ushort*)data + offset, type == ElementType.F16, x, columns, path);
        }
    }

    /// <summary>Computes the dot product of a BF16 or F16 row with x.</summary>
    public static float DotRow(ushort* row, bool half, float* x, int length, KernelPath path)
    {
        float sum = 0;
        int done = 0;
        switch (path)
        {
            case KernelPath.Vector512:
                sum = DotWidened<Simd512, Vector512<float>>(row, half, x, length, out done);
                break;
            case KernelPath.Vector256:
                sum = DotWidened<Simd256, Vector256<float>>(row, half, x, length, out done);
                break;
            case KernelPath.Vector128:
                sum = DotWidened<Simd128, Vector128<float>>(row, half, x, length, out done);
                break;
        }

        for (int c = done; c < length; c++)
        {
            float w = half ? (float)BitConverter.UInt16BitsToHalf(row[c]) : BFloat16.ToSingle(row[c]);
            sum += w * x[c];
        }

        return sum;
    }

    private static float DotWidened<TSimd, TVector>(ushort* row, bool half, float* x, int length, out int done)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
    {
        int lanes = TSimd.Lanes;
        var sum0 = TSimd.Zero;
        var sum1 = TSimd.Zero;
        int c = 0;
        for (; c + 2 * lanes <= length; c += 2 * lanes)
        {
            TVector lower;
            TVector upper;
            if (half)
            {
                TSimd.LoadHalf(row + c, out lower, out upper);
            }
            else
            {
                TSimd.LoadBFloat16(row + c, out lower, out upper);
            }

            sum0 = TSimd.MultiplyAdd(lower, TSimd.Load(x + c), sum0);
            sum1 = TSimd.MultiplyAdd(upper, TSimd.Load(x + c + lanes), sum1);
        }

        done = c;
        return TSimd.Sum(TSimd.Add(sum0, sum1));
    }
}
