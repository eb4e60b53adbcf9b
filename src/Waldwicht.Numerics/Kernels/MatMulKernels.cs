using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// Float matrix product of a small block of weight rows with several activation rows, register-blocked so that
/// every loaded vector feeds several multiply-adds. Blocks are 4 rows × 4 tokens in general and 2 rows × 6 tokens
/// with AVX2, whose 16 vector registers cannot hold the 16 accumulators and 5 operands of a 4 × 4 block. Callers
/// with fewer than four tokens do better with one matrix-vector product per token.
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
            case KernelPath.Vector256 when Fma.IsSupported:
                Multiply2x6(a, lda, rows, b, ldb, tokens, length, y, ldy);
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

    // The AVX2 path: blocks of 2 weight rows × 6 activation rows keep 12 accumulators, the two weight vectors and
    // one activation vector in the 16 registers, with 8 loads per 12 multiply-adds.
    [SkipLocalsInit]
    private static void Multiply2x6(
        float* a, int lda, int rows, float* b, int ldb, int tokens, int length, float* y, int ldy)
    {
        float* sums = stackalloc float[12];
        float** activations = stackalloc float*[6];

        // Tokens outer, rows inner: six activation rows stay in L1 or L2 while the weight tile streams from L2. The
        // last one to five tokens go in blocks of three, so that a partial block wastes at most one third of its work.
        // Partial blocks repeat their last row or token, and only the results inside the block are stored.
        for (int t = 0; t < tokens;)
        {
            int blockTokens = tokens - t >= 6 ? 6 : 3;
            for (int i = 0; i < blockTokens; i++)
            {
                activations[i] = b + (long)Math.Min(t + i, tokens - 1) * ldb;
            }

            int tokenCount = Math.Min(blockTokens, tokens - t);
            for (int r = 0; r < rows; r += 2)
            {
                float* w0 = a + (long)r * lda;
                float* w1 = a + (long)Math.Min(r + 1, rows - 1) * lda;
                if (blockTokens == 6)
                {
                    Block2x6(w0, w1, activations, length, sums);
                }
                else
                {
                    Block2x3(w0, w1, activations, length, sums);
                }

                int rowCount = Math.Min(2, rows - r);
                for (int i = 0; i < tokenCount; i++)
                {
                    float* output = y + (long)(t + i) * ldy + r;
                    output[0] = sums[2 * i];
                    if (rowCount == 2)
                    {
                        output[1] = sums[2 * i + 1];
                    }
                }
            }

            t += tokenCount;
        }
    }

    // sums[2i + j] = Σ_c w_j[c]·activations[i][c] for weight rows w0, w1 and three activation rows i.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block2x3(float* w0, float* w1, float** activations, int length, float* sums)
    {
        float* x0 = activations[0];
        float* x1 = activations[1];
        float* x2 = activations[2];
        Vector256<float> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default;
        int c = 0;
        for (; c + 8 <= length; c += 8)
        {
            var a0 = Vector256.Load(w0 + c);
            var a1 = Vector256.Load(w1 + c);
            var x = Vector256.Load(x0 + c);
            s00 = Fma.MultiplyAdd(a0, x, s00);
            s01 = Fma.MultiplyAdd(a1, x, s01);
            x = Vector256.Load(x1 + c);
            s10 = Fma.MultiplyAdd(a0, x, s10);
            s11 = Fma.MultiplyAdd(a1, x, s11);
            x = Vector256.Load(x2 + c);
            s20 = Fma.MultiplyAdd(a0, x, s20);
            s21 = Fma.MultiplyAdd(a1, x, s21);
        }

        // As in Block2x6, no call may come while the accumulators are live.
        sums[0] = Vector256.Sum(s00);
        sums[1] = Vector256.Sum(s01);
        sums[2] = Vector256.Sum(s10);
        sums[3] = Vector256.Sum(s11);
        sums[4] = Vector256.Sum(s20);
        sums[5] = Vector256.Sum(s21);
        if (c < length)
        {
            for (int i = 0; i < 3; i++)
            {
                sums[2 * i] += Tail(w0, activations[i], c, length);
                sums[2 * i + 1] += Tail(w1, activations[i], c, length);
            }
        }
    }

    // sums[2i + j] = Σ_c w_j[c]·activations[i][c] for weight rows w0, w1 and six activation rows i.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block2x6(float* w0, float* w1, float** activations, int length, float* sums)
    {
        float* x0 = activations[0];
        float* x1 = activations[1];
        float* x2 = activations[2];
        float* x3 = activations[3];
        float* x4 = activations[4];
        float* x5 = activations[5];
        Vector256<float> s00 = default, s01 = default, s10 = default, s11 = default, s20 = default, s21 = default;
        Vector256<float> s30 = default, s31 = default, s40 = default, s41 = default, s50 = default, s51 = default;
        int c = 0;
        for (; c + 8 <= length; c += 8)
        {
            var a0 = Vector256.Load(w0 + c);
            var a1 = Vector256.Load(w1 + c);
            var x = Vector256.Load(x0 + c);
            s00 = Fma.MultiplyAdd(a0, x, s00);
            s01 = Fma.MultiplyAdd(a1, x, s01);
            x = Vector256.Load(x1 + c);
            s10 = Fma.MultiplyAdd(a0, x, s10);
            s11 = Fma.MultiplyAdd(a1, x, s11);
            x = Vector256.Load(x2 + c);
            s20 = Fma.MultiplyAdd(a0, x, s20);
            s21 = Fma.MultiplyAdd(a1, x, s21);
            x = Vector256.Load(x3 + c);
            s30 = Fma.MultiplyAdd(a0, x, s30);
            s31 = Fma.MultiplyAdd(a1, x, s31);
            x = Vector256.Load(x4 + c);
            s40 = Fma.MultiplyAdd(a0, x, s40);
            s41 = Fma.MultiplyAdd(a1, x, s41);
            x = Vector256.Load(x5 + c);
            s50 = Fma.MultiplyAdd(a0, x, s50);
            s51 = Fma.MultiplyAdd(a1, x, s51);
        }

        // No call may come while the accumulators are live: every vector register is caller-saved, so the JIT would
        // spill all twelve inside the loop.
        sums[0] = Vector256.Sum(s00);
        sums[1] = Vector256.Sum(s01);
        sums[2] = Vector256.Sum(s10);
        sums[3] = Vector256.Sum(s11);
        sums[4] = Vector256.Sum(s20);
        sums[5] = Vector256.Sum(s21);
        sums[6] = Vector256.Sum(s30);
        sums[7] = Vector256.Sum(s31);
        sums[8] = Vector256.Sum(s40);
        sums[9] = Vector256.Sum(s41);
        sums[10] = Vector256.Sum(s50);
        sums[11] = Vector256.Sum(s51);
        if (c < length)
        {
            for (int i = 0; i < 6; i++)
            {
                sums[2 * i] += Tail(w0, activations[i], c, length);
                sums[2 * i + 1] += Tail(w1, activations[i], c, length);
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

        // The sums are stored before any call, because a call while the accumulators are live makes the JIT spill
        // them inside the loop (every vector register is caller-saved).
        float* y0 = outputs[0];
        float* y1 = outputs[1];
        float* y2 = outputs[2];
        float* y3 = outputs[3];
        y0[0] = TSimd.Sum(s00);
        y0[1] = TSimd.Sum(s10);
        y0[2] = TSimd.Sum(s20);
        y0[3] = TSimd.Sum(s30);
        y1[0] = TSimd.Sum(s01);
        y1[1] = TSimd.Sum(s11);
        y1[2] = TSimd.Sum(s21);
        y1[3] = TSimd.Sum(s31);
        y2[0] = TSimd.Sum(s02);
        y2[1] = TSimd.Sum(s12);
        y2[2] = TSimd.Sum(s22);
        y2[3] = TSimd.Sum(s32);
        y3[0] = TSimd.Sum(s03);
        y3[1] = TSimd.Sum(s13);
        y3[2] = TSimd.Sum(s23);
        y3[3] = TSimd.Sum(s33);
        if (c < length)
        {
            for (int i = 0; i < 4; i++)
            {
                for (int j = 0; j < 4; j++)
                {
                    outputs[i][j] += Tail(weights[j], activations[i], c, length);
                }
            }
        }
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
