using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Waldwicht.Numerics.Ops;

/// <summary>
/// Element-wise operations of the transformer forward pass, in float32 and vectorized through
/// <see cref="TensorPrimitives"/>. The destination may be the input span itself (exact overlap), but must not
/// overlap it partially.
/// </summary>
public static class VectorOps
{
    // √(2/π), the constant of the tanh approximation of GELU.
    private const float GeluScale = 0.7978845608028654f;

    private const float GeluCubic = 0.044715f;

    // Elements per pass of the chunked GELU, so that the temporary stays on the stack and in L1.
    private const int GeluChunk = 512;

    /// <summary>
    /// Computes destination = x / √(mean(x²) + epsilon) · weight. The weight is applied as stored, so a checkpoint
    /// that stores (weight − 1), as Gemma 2 and 3 do, needs 1 added first.
    /// </summary>
    /// <exception cref="ArgumentException">x is empty, weight has another length, or destination is too short.</exception>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float epsilon, Span<float> destination)
    {
        if (weight.Length != x.Length)
        {
            throw new ArgumentException(
                $"Weight has {weight.Length} elements but x has {x.Length}; pass the norm weight of this dimension.",
                nameof(weight));
        }

        RmsNorm(x, epsilon, destination);
        TensorPrimitives.Multiply(destination[..x.Length], weight, destination);
    }

    /// <summary>Computes destination = x / √(mean(x²) + epsilon), without a weight.</summary>
    /// <exception cref="ArgumentException">x is empty or destination is too short.</exception>
    public static void RmsNorm(ReadOnlySpan<float> x, float epsilon, Span<float> destination)
    {
        CheckNotEmpty(x);
        CheckDestination(x, destination);
        float meanSquare = TensorPrimitives.SumOfSquares(x) / x.Length;
        float scale = 1f / MathF.Sqrt(meanSquare + epsilon);
        TensorPrimitives.Multiply(x, scale, destination);
    }

    /// <summary>
    /// Computes the tanh approximation of GELU, 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), in the equal form
    /// x / (1 + exp(−2·√(2/π)·(x + 0.044715·x³))). That form has no cancellation for negative x, so the relative
    /// error stays near 1e-6 where 1 + tanh would lose most digits.
    /// </summary>
    /// <exception cref="ArgumentException">destination is too short.</exception>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckDestination(x, destination);
        Span<float> denominator = stackalloc float[GeluChunk];
        for (int start = 0; start < x.Length; start += GeluChunk)
        {
            int length = Math.Min(GeluChunk, x.Length - start);
            var chunk = x.Slice(start, length);
            var temporary = denominator[..length];
            GeluDenominator(chunk, temporary);
            TensorPrimitives.Divide(chunk, temporary, destination.Slice(start, length));
        }
    }

    /// <summary>
    /// Computes destination = GeluTanh(gate)·up, the gated MLP activation (gelu_pytorch_tanh) in one pass.
    /// </summary>
    /// <exception cref="ArgumentException">up has another length than gate, or destination is too short.</exception>
    public static void GeluTanhMultiply(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> destination)
    {
        if (up.Length != gate.Length)
        {
            throw new ArgumentException($"Up has {up.Length} elements but gate has {gate.Length}.", nameof(up));
        }

        CheckDestination(gate, destination);
        Span<float> denominator = stackalloc float[GeluChunk];
        for (int start = 0; start < gate.Length; start += GeluChunk)
        {
            int length = Math.Min(GeluChunk, gate.Length - start);
            var chunk = gate.Slice(start, length);
            var temporary = denominator[..length];
            var output = destination.Slice(start, length);
            GeluDenominator(chunk, temporary);
            TensorPrimitives.Divide(chunk, temporary, temporary);
            TensorPrimitives.Multiply(temporary, up.Slice(start, length), output);
        }
    }

    /// <summary>
    /// Computes destination = cap·tanh(x / cap), which bounds values to (−cap, cap), with a relative error of a
    /// few float ulps for every x, including values near 0.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">cap is not positive and finite.</exception>
    /// <exception cref="ArgumentException">destination is too short.</exception>
    public static void Softcap(ReadOnlySpan<float> x, float cap, Span<float> destination)
    {
        if (!(cap > 0) || float.IsPositiveInfinity(cap))
        {
            throw new ArgumentOutOfRangeException(nameof(cap), cap, "The soft cap must be positive and finite.");
        }

        CheckDestination(x, destination);

        // TensorPrimitives.Tanh (System.Numerics.Tensors 10.0.0) loses all relative accuracy for small arguments,
        // so tanh is evaluated here.
        var capVector = new Vector<float>(cap);
        ref float input = ref MemoryMarshal.GetReference(x);
        ref float output = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        for (; i + Vector<float>.Count <= x.Length; i += Vector<float>.Count)
        {
            var u = Vector.LoadUnsafe(ref input, (nuint)i) / capVector;
            (Tanh(u) * capVector).StoreUnsafe(ref output, (nuint)i);
        }

        for (; i < x.Length; i++)
        {
            destination[i] = MathF.Tanh(x[i] / cap) * cap;
        }
    }

    /// <summary>
    /// Computes destination = exp(x − max(x)) / Σ exp(x − max(x)). Entries of −∞ (masked positions) get 0.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// x is empty, every entry is −∞ so no distribution exists, or destination is too short.
    /// </exception>
    public static void Softmax(ReadOnlySpan<float> x, Span<float> destination)
    {
        CheckNotEmpty(x);
        CheckDestination(x, destination);
        float max = TensorPrimitives.Max(x);
        if (float.IsNegativeInfinity(max))
        {
            throw new ArgumentException("Every entry is negative infinity, so the softmax is undefined.", nameof(x));
        }

        var output = destination[..x.Length];
        TensorPrimitives.Subtract(x, max, output);
        TensorPrimitives.Exp(output, output);
        float sum = TensorPrimitives.Sum(output);
        TensorPrimitives.Divide(output, sum, output);
    }

    // tanh(u) as u + u³·P(u²) (odd Taylor series to u¹⁵, truncation below 5e-8 relative) for |u| < 0.55, and as
    // 1 − 2/(exp(2|u|) + 1) above, where the subtraction loses at most a factor of two; the sign is restored last.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<float> Tanh(Vector<float> u)
    {
        var a = Vector.Abs(u);
        var a2 = a * a;
        var p = new Vector<float>(-929569f / 638512875f);
        p = (p * a2) + new Vector<float>(21844f / 6081075f);
        p = (p * a2) + new Vector<float>(-1382f / 155925f);
        p = (p * a2) + new Vector<float>(62f / 2835f);
        p = (p * a2) + new Vector<float>(-17f / 315f);
        p = (p * a2) + new Vector<float>(2f / 15f);
        p = (p * a2) + new Vector<float>(-1f / 3f);
        var small = a + (a * a2 * p);
        var large = Vector<float>.One - (new Vector<float>(2f) / (Vector.Exp(a + a) + Vector<float>.One));
        var magnitude = Vector.ConditionalSelect(Vector.LessThan(a, new Vector<float>(0.55f)), small, large);
        return Vector.CopySign(magnitude, u);
    }

    // Writes 1 + exp(−2·√(2/π)·x·(1 + 0.044715·x²)).
    private static void GeluDenominator(ReadOnlySpan<float> x, Span<float> destination)
    {
        TensorPrimitives.Multiply(x, x, destination);
        TensorPrimitives.Multiply(destination, -2f * GeluScale * GeluCubic, destination);
        TensorPrimitives.Add(destination, -2f * GeluScale, destination);
        TensorPrimitives.Multiply(destination, x, destination);
        TensorPrimitives.Exp(destination, destination);
        TensorPrimitives.Add(destination, 1f, destination);
    }

    private static void CheckNotEmpty(ReadOnlySpan<float> x)
    {
        if (x.IsEmpty)
        {
            throw new ArgumentException("The input is empty.", nameof(x));
        }
    }

    private static void CheckDestination(ReadOnlySpan<float> x, Span<float> destination)
    {
        if (destination.Length < x.Length)
        {
            throw new ArgumentException(
                $"Destination has {destination.Length} elements, expected at least {x.Length}.", nameof(destination));
        }
    }
}
