namespace Waldwicht.Model.Gemma4;

/// <summary>
/// Rotary position embedding in the half-split layout: dimension k is paired with k + D/2 and
/// rotated by position · f_k. Proportional RoPE rotates only the first floor(ρ·D/2) pairs, with
/// frequencies computed over the full head dimension D; the other pairs have frequency 0.
/// </summary>
public sealed class RotaryEmbedding
{
    private readonly double[] _inverseFrequencies;

    public RotaryEmbedding(RopeParameters parameters, int headDim)
    {
        HeadDim = headDim;
        int pairs = headDim / 2;
        int rotated = parameters.Type == "proportional"
            ? (int)Math.Floor(parameters.PartialRotaryFactor * headDim / 2)
            : pairs;
        RotatedPairs = Math.Clamp(rotated, 0, pairs);
        _inverseFrequencies = new double[RotatedPairs];
        for (int k = 0; k < RotatedPairs; k++)
        {
            _inverseFrequencies[k] = Math.Pow(parameters.Theta, -2.0 * k / headDim) / parameters.Factor;
        }
    }

    public int HeadDim { get; }

    /// <summary>Number of (k, k + D/2) pairs that rotate.</summary>
    public int RotatedPairs { get; }

    /// <summary>Fills the cosine and sine tables for one position ([RotatedPairs] each).</summary>
    public void Angles(int position, Span<float> cos, Span<float> sin)
    {
        for (int k = 0; k < RotatedPairs; k++)
        {
            double angle = position * _inverseFrequencies[k];
            cos[k] = (float)Math.Cos(angle);
            sin[k] = (float)Math.Sin(angle);
        }
    }

    /// <summary>Rotates each head of <paramref name="heads"/> ([count · HeadDim]) in place with precomputed tables.</summary>
    public void Apply(Span<float> heads, int count, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        int half = HeadDim / 2;
        for (int h = 0; h < count; h++)
        {
            var x = heads.Slice(h * HeadDim, HeadDim);
            for (int k = 0; k < RotatedPairs; k++)
            {
                float a = x[k];
                float b = x[k + half];
                x[k] = a * cos[k] - b * sin[k];
                x[k + half] = a * sin[k] + b * cos[k];
            }
        }
    }
}
