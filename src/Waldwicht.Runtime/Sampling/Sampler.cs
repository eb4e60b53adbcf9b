using System.Numerics.Tensors;

namespace Waldwicht.Runtime.Sampling;

/// <summary>
/// Selects the next token from a logits row: logit bias, repetition / presence / frequency
/// penalties, then greedy selection or temperature sampling with top-k, top-p and min-p filters
/// (in that order, as Hugging Face transformers applies them). Buffers are sized once for the
/// vocabulary, so selection allocates nothing. Not thread-safe.
/// </summary>
public sealed class Sampler
{
    // Tokens whose tempered logit is this far below the maximum have a relative probability under
    // e^-30 (about 1e-13). Dropping them before sorting keeps sampling fast on a 262k vocabulary.
    private const float CandidateWindow = 30f;

    private readonly SamplingOptions _options;
    private readonly Random _random;
    private readonly float[] _probabilities;
    private readonly int[] _candidates;
    private readonly float[] _candidateKeys;
    private readonly Dictionary<int, int> _counts = [];

    public Sampler(SamplingOptions options, int vocabSize)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(vocabSize);
        _options = options;
        VocabSize = vocabSize;
        _random = options.Seed is int seed ? new Random(seed) : new Random();
        _probabilities = new float[vocabSize];
        _candidates = new int[vocabSize];
        _candidateKeys = new float[vocabSize];
    }

    public int VocabSize { get; }

    public SamplingOptions Options => _options;

    /// <summary>
    /// Applies bias and penalties to <paramref name="logits"/> in place, using the most recent
    /// tokens of <paramref name="history"/> (prompt and generated tokens).
    /// </summary>
    public void ApplyPenalties(Span<float> logits, ReadOnlySpan<int> history)
    {
        if (_options.LogitBias is { Count: > 0 } bias)
        {
            foreach (var (token, value) in bias)
            {
                logits[token] += value;
            }
        }

        bool repetition = _options.RepetitionPenalty != 1f;
        bool additive = _options.PresencePenalty != 0 || _options.FrequencyPenalty != 0;
        if ((!repetition && !additive) || _options.PenaltyContextSize == 0 || history.IsEmpty)
        {
            return;
        }

        var window = history[Math.Max(0, history.Length - _options.PenaltyContextSize)..];
        _counts.Clear();
        foreach (int token in window)
        {
            if ((uint)token < (uint)logits.Length)
            {
                _counts[token] = _counts.GetValueOrDefault(token) + 1;
            }
        }

        foreach (var (token, count) in _counts)
        {
            float logit = logits[token];
            if (repetition)
            {
                logit = logit > 0 ? logit / _options.RepetitionPenalty : logit * _options.RepetitionPenalty;
            }

            logit -= _options.PresencePenalty + _options.FrequencyPenalty * count;
            logits[token] = logit;
        }
    }

    /// <summary>Selects a token from already penalised logits; the logits are left unchanged.</summary>
    public int Select(ReadOnlySpan<float> logits)
    {
        if (_options.IsGreedy)
        {
            return TensorPrimitives.IndexOfMax(logits);
        }

        float inverseTemperature = 1f / _options.Temperature;
        float max = TensorPrimitives.Max(logits) * inverseTemperature;
        if (!float.IsFinite(max))
        {
            return TensorPrimitives.IndexOfMax(logits);
        }

        // Candidates: tokens within the window below the maximum, sorted by descending logit.
        int count = 0;
        float threshold = max - CandidateWindow;
        for (int i = 0; i < logits.Length; i++)
        {
            float scaled = logits[i] * inverseTemperature;
            if (scaled >= threshold)
            {
                _candidates[count] = i;
                _candidateKeys[count] = -scaled;
                count++;
            }
        }

        var keys = _candidateKeys.AsSpan(0, count);
        var ids = _candidates.AsSpan(0, count);
        keys.Sort(ids);
        var probabilities = _probabilities.AsSpan(0, count);
        for (int i = 0; i < count; i++)
        {
            probabilities[i] = MathF.Exp(-keys[i] - max);
        }

        if (_options.TopK > 0 && _options.TopK < count)
        {
            count = _options.TopK;
        }

        float total = TensorPrimitives.Sum(probabilities[..count]);
        if (_options.TopP < 1f)
        {
            float target = _options.TopP * total;
            float cumulative = 0;
            int keep = 0;
            while (keep < count)
            {
                cumulative += probabilities[keep++];
                if (cumulative >= target)
                {
                    break;
                }
            }

            count = keep;
        }

        if (_options.MinP > 0)
        {
            // probabilities[0] is the largest: the maximum's relative probability is 1.
            float floor = _options.MinP * probabilities[0];
            int keep = 1;
            while (keep < count && probabilities[keep] >= floor)
            {
                keep++;
            }

            count = keep;
        }

        total = TensorPrimitives.Sum(probabilities[..count]);
        double draw = _random.NextDouble() * total;
        double running = 0;
        for (int i = 0; i < count; i++)
        {
            running += probabilities[i];
            if (draw < running)
            {
                return ids[i];
            }
        }

        return ids[count - 1];
    }
}
