using Waldwicht.Runtime.Sampling;

namespace Waldwicht.Runtime.Generation;

/// <summary>Why generation ended.</summary>
public enum FinishReason
{
    /// <summary>A stop token was generated or the caller stopped the stream (for example on a stop string).</summary>
    Stop,

    /// <summary>The token limit was reached.</summary>
    Length,

    /// <summary>The cancellation token was triggered.</summary>
    Cancelled,
}

/// <summary>Adjusts a logits row before sampling, for constrained decoding or forced tokens.</summary>
public interface ILogitsProcessor
{
    /// <summary>Modifies <paramref name="logits"/> in place; <paramref name="generated"/> are the tokens generated so far.</summary>
    void Process(ReadOnlySpan<int> generated, Span<float> logits);
}

/// <summary>Settings of one generation request.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate; must be positive.</summary>
    public int MaxTokens { get; init; } = 256;

    public SamplingOptions Sampling { get; init; } = new();

    /// <summary>Token ids that end generation; they are not part of the output.</summary>
    public IReadOnlyCollection<int> StopTokenIds { get; init; } = [];

    /// <summary>Keep generating through stop tokens (they are then part of the output).</summary>
    public bool IgnoreStopTokens { get; init; }

    /// <summary>Processors applied in order before the penalties and the sampler.</summary>
    public IReadOnlyList<ILogitsProcessor> LogitsProcessors { get; init; } = [];

    /// <summary>Compute the log-probability of each chosen token.</summary>
    public bool Logprobs { get; init; }

    /// <summary>Number of most likely alternatives to report per token (0 to 20); needs <see cref="Logprobs"/>.</summary>
    public int TopLogprobs { get; init; }

    /// <summary>Reuse the session's cached prefix of the prompt instead of recomputing it.</summary>
    public bool ReusePrefix { get; init; } = true;
}
