namespace Waldwicht.Runtime.Generation;

/// <summary>One alternative token with its log-probability.</summary>
public readonly record struct TokenLogprob(int Id, float Logprob);

/// <summary>A token chosen by the generator, with its log-probability when requested.</summary>
/// <param name="Id">Token id.</param>
/// <param name="Index">0-based index among the generated tokens.</param>
/// <param name="Logprob">Log-probability of the token, or null when not requested.</param>
/// <param name="TopLogprobs">The most likely alternatives, or null when not requested.</param>
public readonly record struct GeneratedToken(int Id, int Index, float? Logprob, TokenLogprob[]? TopLogprobs);

/// <summary>Outcome of one generation.</summary>
public sealed record GenerationResult(IReadOnlyList<int> TokenIds, FinishReason FinishReason, GenerationStats Stats);
