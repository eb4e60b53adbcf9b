using System.Runtime.Intrinsics;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>Conversions of F32, BF16 and F16 arrays to floats, and float dot products, for every kernel path.</summary>
internal static unsafe class ElementKernels
{
    /// <summary>
    /// Converts <paramref name="count"/> elements, starting at element <paramref name="offset"/> of
    /// <paramref name="source"/>, to floats. Exact for every value.
    /// </summary>
    public static void ToSingle(
        void* source, ElementType type, long offset, float* destination, int count, KernelPath path)
    {
        if (type == ElementType.F32)
        {
            long bytes = (long)count * sizeof(float);
            Buffer.MemoryCopy((float*)source + offset, destination, bytes, bytes);
            return;
        }

        ushort* bits = (ushort*)source + offset;
        bool half = type == ElementType.F16;
        int done = 0;
        if (path >= KernelPath.Vector512)
        {
            done = Widen<Simd512, Vector512<float>>(bits, destination, done, count, half);
        }

        if (path >= KernelPath.Vector256)
        {
            done = Widen<Simd256, Vector256<float>>(bits, destination, done, count, half);
        }

        if (path >= KernelPath.Vector128)
        {
            done = Widen<Simd128, Vector128<float>>(bits, destination, done, count, half);
        }

        for (int i = done; i < count; i++)
        {
            destination[i] = half ? (float)BitConverter.UInt16BitsToHalf(bits[i]) : BFloat16.ToSingle(bits[i]);
        }
    }

    /// <summary>Computes Σ a[i]·b[i] over <paramref name="length"/> floats.</summary>
    public static float Dot(float* a, float* b, int length, KernelPath path) => path switch
    {
        KernelPath.Vector512 => Dot<Simd512, Vector512<float>>(a, b, length),
        KernelPath.Vector256 => Dot<Simd256, Vector256<float>>(a, b, length),
        KernelPath.Vector128 => Dot<Simd128, Vector128<float>>(a, b, length),
        _ => DotScalar(a, b, length),
    };

    /// <summary>Computes Σ a[i]·b[i] with <typeparamref name="TSimd"/> vectors and a scalar tail.</summary>
    public static float Dot<TSimd, TVector>(float* a, float* b, int length)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
    {
        int lanes = TSimd.Lanes;
        var sum0 = TSimd.Zero;
        var sum1 = TSimd.Zero;
        var sum2 = TSimd.Zero;
        var sum3 = TSimd.Zero;
        int i = 0;
        for (; i + 4 * lanes <= length; i += 4 * lanes)
        {
            sum0 = TSimd.MultiplyAdd(TSimd.Load(a + i), TSimd.Load(b + i), sum0);
            sum1 = TSimd.MultiplyAdd(TSimd.Load(a + i + lanes), TSimd.Load(b + i + lanes), sum1);
            sum2 = TSimd.MultiplyAdd(TSimd.Load(a + i + 2 * lanes), TSimd.Load(b + i + 2 * lanes), sum2);
            sum3 = TSimd.MultiplyAdd(TSimd.Load(a + i + 3 * lanes), TSimd.Load(b + i + 3 * lanes), sum3);
        }

        for (; i + lanes <= length; i += lanes)
        {
            sum0 = TSimd.MultiplyAdd(TSimd.Load(a + i), TSimd.Load(b + i), sum0);
        }

        float sum = TSimd.Sum(TSimd.Add(TSimd.Add(sum0, sum1), TSimd.Add(sum2, sum3)));
        for (; i < length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    /// <summary>Computes Σ a[i]·b[i] in order, one float at a time.</summary>
    public static float DotScalar(float* a, float* b, int length)
    {
        float sum = 0;
        for (int i = 0; i < length; i++)
        {
            sum += a[i] * b[i];
        }

        return sum;
    }

    private static int Widen<TSimd, TVector>(ushort* source, float* destination, int start, int count, bool half)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
    {
        int step = 2 * TSimd.Lanes;
        int i = start;
        for (; i + step <= count; i += step)
        {
            TVector lower;
            TVector upper;
            if (half)
            {
                TSimd.LoadHalf(source + i, out lower, out upper);
            }
            else
            {
                TSimd.LoadBFloat16(source + i, out lower, out upper);
            }

            TSimd.Store(destination + i, lower);
            TSimd.Store(destination + i + TSimd.Lanes, upper);
        }

        return i;
    }
}
