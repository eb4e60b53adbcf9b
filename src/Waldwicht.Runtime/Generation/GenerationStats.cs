namespace Waldwicht.Runtime.Generation;

/// <summary>Timing and memory figures of one generation.</summary>
public sealed record GenerationStats
{
    /// <summary>Prompt tokens, including those served from the cached prefix.</summary>
    public int PromptTokens { get; init; }

    /// <summary>Prompt tokens whose keys and values were reused from an earlier request.</summary>
    public int CachedPromptTokens { get; init; }

    /// <summary>Seconds spent processing the uncached part of the prompt.</summary>
    public double PromptSeconds { get; init; }

    public int GeneratedTokens { get; init; }

    /// <summary>Seconds from the end of the prompt to the last generated token.</summary>
    public double GenerationSeconds { get; init; }

    /// <summary>Seconds from the start of the request to the first generated token.</summary>
    public double TimeToFirstTokenSeconds { get; init; }

    /// <summary>Peak resident memory of the process so far, in bytes (0 where the platform does not report it).</summary>
    public long PeakResidentBytes { get; init; }

    /// <summary>Uncached prompt tokens processed per second.</summary>
    public double PromptTokensPerSecond =>
        PromptSeconds > 0 ? (PromptTokens - CachedPromptTokens) / PromptSeconds : 0;

    /// <summary>Generated tokens per second after the prompt.</summary>
    public double GenerationTokensPerSecond => GenerationSeconds > 0 ? GeneratedTokens / GenerationSeconds : 0;
}
