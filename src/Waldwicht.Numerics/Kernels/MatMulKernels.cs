using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// Float matrix product of a small block of weight rows with several activation rows, register-blocked
/// as 4 rows × 4 tokens so that every loaded vector feeds four multiply-adds. Callers with fewer than four
/// tokens do better with one matrix-vector product per token.
/// </summary>
internal static unsafe class MatMulKernels
{
    /// <summary>
    /// Computes y[t·ldy + r] = Σ_c a[r·lda + c]·b[t·ldb + c] for r &lt; <paramref name="rows"/>,
    /// t &lt; <paramref name="tokens"/> and c &lt; <paramref name="length"/>, overwriting y.
    /// </summary>
    public static void MultiplyTransposed(
        KernelPath path, float* a, int lda, int rows, float* b, int ldb, int tokens, int length, float* y, int ldy)
    {
        switch (path)
        {
            case KernelPath.Vector512:
                Multiply<Simd512, Vector512<float>>(a, lda, rows, b, ldb, tokens, length, y, ldy);
                break;
            case KernelPath.Vector256:
                Multiply<Simd256, Vector256<float>>(a, lda, rows, b, ldb, tokens, length, y, ldy);
                break;
            case KernelPath.Vector128:
                Multiply<Simd128, Vector128<float>>(a, lda, rows, b, ldb, tokens, length, y, ldy);
                break;
            default:
                for (int r = 0; r < rows; r++)
                {
                    for (int t = 0; t < tokens; t++)
                    {
                        y[(long)t * ldy + r] = ElementKernels.DotScalar(a + (long)r * lda, b + (long)t * ldb, length);
                    }
                }

                break;
        }
    }

    [SkipLocalsInit]
    private static void Multiply<TSimd, TVector>(
        float* a, int lda, int rows, float* b, int ldb, int tokens, int length, float* y, int ldy)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
    {
        // Partial blocks repeat their last row or token and write the surplus results to this scratch block.
        float* scratch = stackalloc float[16];
        float** weights = stackalloc float*[4];
        float** activations = stackalloc float*[4];
        float** outputs = stackalloc float*[4];

        // Tokens outer, rows inner: four activation rows stay in L1 while the weight tile streams from L2.
        for (int t = 0; t < tokens; t += 4)
        {
            for (int i = 0; i < 4; i++)
            {
                activations[i] = b + (long)Math.Min(t + i, tokens - 1) * ldb;
            }

            for (int r = 0; r < rows; r += 4)
            {
                bool partial = t + 4 > tokens || r + 4 > rows;
                for (int i = 0; i < 4; i++)
                {
                    weights[i] = a + (long)Math.Min(r + i, rows - 1) * lda;
                    outputs[i] = partial ? scratch + 4 * i : y + (long)(t + i) * ldy + r;
                }

                Block4x4<TSimd, TVector>(weights, activations, length, outputs);
                if (partial)
                {
                    for (int i = 0; i < Math.Min(4, tokens - t); i++)
                    {
                        for (int j = 0; j < Math.Min(4, rows - r); j++)
                        {
                            y[(long)(t + i) * ldy + r + j] = scratch[4 * i + j];
                        }
                    }
                }
            }
        }
    }

    // outputs[i][j] = Σ_c weights[j][c]·activations[i][c] for four weight rows j and four activation rows i.
    private static void Block4x4<TSimd, TVector>(float** weights, float** activations, int length, float** outputs)
        where TSimd : struct, ISimd<TVector>
        where TVector : unmanaged
    {
        float* a0 = weights[0];
        float* a1 = weights[1];
        float* a2 = weights[2];
        float* a3 = weights[3];
        float* b0 = activations[0];
        float* b1 = activations[1];
        float* b2 = activations[2];
        float* b3 = activations[3];
        TVector s00 = TSimd.Zero, s01 = TSimd.Zero, s02 = TSimd.Zero, s03 = TSimd.Zero;
        TVector s10 = TSimd.Zero, s11 = TSimd.Zero, s12 = TSimd.Zero, s13 = TSimd.Zero;
        TVector s20 = TSimd.Zero, s21 = TSimd.Zero, s22 = TSimd.Zero, s23 = TSimd.Zero;
        TVector s30 = TSimd.Zero, s31 = TSimd.Zero, s32 = TSimd.Zero, s33 = TSimd.Zero;
        int c = 0;
        for (; c + TSimd.Lanes <= length; c += TSimd.Lanes)
        {
            var w0 = TSimd.Load(a0 + c);
            var w1 = TSimd.Load(a1 + c);
            var w2 = TSimd.Load(a2 + c);
            var w3 = TSimd.Load(a3 + c);

            var x = TSimd.Load(b0 + c);
            s00 = TSimd.MultiplyAdd(w0, x, s00);
            s10 = TSimd.MultiplyAdd(w1, x, s10);
            s20 = TSimd.MultiplyAdd(w2, x, s20);
            s30 = TSimd.MultiplyAdd(w3, x, s30);

            x = TSimd.Load(b1 + c);
            s01 = TSimd.MultiplyAdd(w0, x, s01);
            s11 = TSimd.MultiplyAdd(w1, x, s11);
            s21 = TSimd.MultiplyAdd(w2, x, s21);
            s31 = TSimd.MultiplyAdd(w3, x, s31);

            x = TSimd.Load(b2 + c);
            s02 = TSimd.MultiplyAdd(w0, x, s02);
            s12 = TSimd.MultiplyAdd(w1, x, s12);
            s22 = TSimd.MultiplyAdd(w2, x, s22);
            s32 = TSimd.MultiplyAdd(w3, x, s32);

            x = TSimd.Load(b3 + c);
            s03 = TSimd.MultiplyAdd(w0, x, s03);
            s13 = TSimd.MultiplyAdd(w1, x, s13);
            s23 = TSimd.MultiplyAdd(w2, x, s23);
            s33 = TSimd.MultiplyAdd(w3, x, s33);
        }

        float* y0 = outputs[0];
        float* y1 = outputs[1];
        float* y2 = outputs[2];
        float* y3 = outputs[3];
        y0[0] = TSimd.Sum(s00) + Tail(a0, b0, c, length);
        y0[1] = TSimd.Sum(s10) + Tail(a1, b0, c, length);
        y0[2] = TSimd.Sum(s20) + Tail(a2, b0, c, length);
        y0[3] = TSimd.Sum(s30) + Tail(a3, b0, c, length);
        y1[0] = TSimd.Sum(s01) + Tail(a0, b1, c, length);
        y1[1] = TSimd.Sum(s11) + Tail(a1, b1, c, length);
        y1[2] = TSimd.Sum(s21) + Tail(a2, b1, c, length);
        y1[3] = TSimd.Sum(s31) + Tail(a3, b1, c, length);
        y2[0] = TSimd.Sum(s02) + Tail(a0, b2, c, length);
        y2[1] = TSimd.Sum(s12) + Tail(a1, b2, c, length);
        y2[2] = TSimd.Sum(s22) + Tail(a2, b2, c, length);
        y2[3] = TSimd.Sum(s32) + Tail(a3, b2, c, length);
        y3[0] = TSimd.Sum(s03) + Tail(a0, b3, c, length);
        y3[1] = TSimd.Sum(s13) + Tail(a1, b3, c, length);
        y3[2] = TSimd.Sum(s23) + Tail(a2, b3, c, length);
        y3[3] = TSimd.Sum(s33) + Tail(a3, b3, c, length);
    }

    private static float Tail(float* a, float* b, int start, int length)
    {
        float sum = 0;
        for (int c = start; c < length; c++)
        {
            sum += a[c] * b[c];
        }

        return sum;
    }
}
