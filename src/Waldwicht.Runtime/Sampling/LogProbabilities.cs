using System.Numerics.Tensors;

namespace Waldwicht.Runtime.Sampling;

/// <summary>Log-probabilities of a logits row, for the logprobs fields of completion APIs.</summary>
public static class LogProbabilities
{
    /// <summary>Returns log-softmax of <paramref name="logits"/> at <paramref name="token"/>.</summary>
    public static float Of(ReadOnlySpan<float> logits, int token) => logits[token] - LogSumExp(logits);

    /// <summary>
    /// Writes the <paramref name="ids"/>.Length most likely tokens with their log-probabilities,
    /// most likely first, and returns how many were written.
    /// </summary>
    public static int Top(ReadOnlySpan<float> logits, Span<int> ids, Span<float> logprobs)
    {
        int n = Math.Min(Math.Min(ids.Length, logprobs.Length), logits.Length);
        if (n == 0)
        {
            return 0;
        }

        float normalizer = LogSumExp(logits);
        int filled = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float value = logits[i];
            if (filled == n && value <= logprobs[n - 1] + normalizer)
            {
                continue;
            }

            int position = filled < n ? filled++ : n - 1;
            while (position > 0 && logprobs[position - 1] + normalizer < value)
            {
                ids[position] = ids[position - 1];
                logprobs[position] = logprobs[position - 1];
                position--;
            }

            ids[position] = i;
            logprobs[position] = value - normalizer;
        }

        return filled;
    }

    /// <summary>log Σ exp(logits), computed stably.</summary>
    public static float LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float value in logits)
        {
            sum += Math.Exp(value - max);
        }

        return max + (float)Math.Log(sum);
    }
}
