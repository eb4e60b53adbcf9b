namespace Waldwicht.Runtime.Sampling;

/// <summary>
/// Token selection settings. The defaults select greedily (temperature 0) with every filter and
/// penalty off. Call <see cref="Validate"/> before use; it names the invalid field and its range.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Softmax temperature; 0 selects the most likely token (greedy). Range 0 to 100.</summary>
    public float Temperature { get; init; }

    /// <summary>Keep only the K most likely tokens; 0 disables the filter.</summary>
    public int TopK { get; init; }

    /// <summary>Keep the smallest set of most likely tokens whose probability reaches P; 1 disables the filter. Range (0, 1].</summary>
    public float TopP { get; init; } = 1f;

    /// <summary>Drop tokens less likely than MinP times the most likely one; 0 disables the filter. Range [0, 1].</summary>
    public float MinP { get; init; }

    /// <summary>Divides positive and multiplies negative logits of tokens seen in the recent context; 1 disables it. Range (0, 10].</summary>
    public float RepetitionPenalty { get; init; } = 1f;

    /// <summary>Subtracted once from the logit of every token seen in the recent context (OpenAI semantics). Range [-2, 2].</summary>
    public float PresencePenalty { get; init; }

    /// <summary>Subtracted from a token's logit once per occurrence in the recent context (OpenAI semantics). Range [-2, 2].</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Number of most recent tokens (prompt included) the penalties look at.</summary>
    public int PenaltyContextSize { get; init; } = 64;

    /// <summary>Seed of the random generator; null draws a seed from the system.</summary>
    public int? Seed { get; init; }

    /// <summary>Values added to the logits of specific token ids before any other step. Range [-100, 100] each.</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>True when the settings select greedily.</summary>
    public bool IsGreedy => Temperature == 0;

    /// <summary>Checks every field against its range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A field is out of range; ParamName is the field name.</exception>
    public void Validate(int vocabSize)
    {
        Check(float.IsFinite(Temperature) && Temperature is >= 0 and <= 100, "temperature", Temperature, "must be between 0 and 100 (0 = greedy)");
        Check(TopK >= 0, "top_k", TopK, "must be 0 (off) or a positive number of tokens");
        Check(float.IsFinite(TopP) && TopP is > 0 and <= 1, "top_p", TopP, "must be greater than 0 and at most 1 (1 = off)");
        Check(float.IsFinite(MinP) && MinP is >= 0 and <= 1, "min_p", MinP, "must be between 0 and 1 (0 = off)");
        Check(float.IsFinite(RepetitionPenalty) && RepetitionPenalty is > 0 and <= 10, "repetition_penalty", RepetitionPenalty, "must be greater than 0 and at most 10 (1 = off)");
        Check(float.IsFinite(PresencePenalty) && PresencePenalty is >= -2 and <= 2, "presence_penalty", PresencePenalty, "must be between -2 and 2");
        Check(float.IsFinite(FrequencyPenalty) && FrequencyPenalty is >= -2 and <= 2, "frequency_penalty", FrequencyPenalty, "must be between -2 and 2");
        Check(PenaltyContextSize >= 0, "penalty_context_size", PenaltyContextSize, "must not be negative");
        if (LogitBias != null)
        {
            foreach (var (token, bias) in LogitBias)
            {
                Check(token >= 0 && token < vocabSize, "logit_bias", token, $"token ids must be between 0 and {vocabSize - 1}");
                Check(float.IsFinite(bias) && bias is >= -100 and <= 100, "logit_bias", bias, "values must be between -100 and 100");
            }
        }
    }

    private static void Check(bool valid, string field, object value, string rule)
    {
        if (!valid)
        {
            throw new ArgumentOutOfRangeException(field, value, $"{field} {rule}; got {value}.");
        }
    }
}
