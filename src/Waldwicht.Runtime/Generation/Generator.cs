using System.Diagnostics;
using Waldwicht.Model.Gemma4;
using Waldwicht.Runtime.Sampling;

namespace Waldwicht.Runtime.Generation;

/// <summary>
/// Runs prompt processing and token-by-token decoding on one <see cref="Gemma4Session"/>. It
/// remembers which tokens the session's KV cache holds, so a prompt that extends an earlier
/// request reuses its cached prefix. Not thread-safe: one generator per session.
/// </summary>
public sealed class Generator
{
    private readonly Gemma4Session _session;
    private readonly List<int> _history = [];
    private readonly float[] _logits;

    public Generator(Gemma4Session session)
    {
        ArgumentNullException.ThrowIfNull(session);
        _session = session;
        _logits = new float[session.VocabSize];
    }

    public Gemma4Session Session => _session;

    /// <summary>Tokens whose keys and values the session currently holds, in order.</summary>
    public IReadOnlyList<int> CachedTokens => _history;

    /// <summary>
    /// Generates a continuation of <paramref name="prompt"/>. <paramref name="onToken"/> is called with
    /// each token as it is chosen and may return false to stop (finish reason Stop).
    /// </summary>
    /// <exception cref="ArgumentException">The prompt is empty or an option is invalid.</exception>
    public GenerationResult Generate(
        IReadOnlyList<int> prompt,
        GenerationOptions options,
        Func<GeneratedToken, bool>? onToken = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        if (prompt.Count == 0)
        {
            throw new ArgumentException("The prompt must contain at least one token.", nameof(prompt));
        }

        if (options.MaxTokens <= 0)
        {
            throw new ArgumentOutOfRangeException("max_tokens", options.MaxTokens, $"max_tokens must be positive; got {options.MaxTokens}.");
        }

        if (options.TopLogprobs is < 0 or > 20)
        {
            throw new ArgumentOutOfRangeException("top_logprobs", options.TopLogprobs, $"top_logprobs must be between 0 and 20; got {options.TopLogprobs}.");
        }

        var sampler = new Sampler(options.Sampling, _session.VocabSize);
        var clock = Stopwatch.StartNew();

        // Prompt: reuse the longest cached prefix, keeping at least one token to produce logits.
        int cached = options.ReusePrefix ? CommonPrefix(prompt) : 0;
        cached = Math.Min(cached, prompt.Count - 1);
        if (cached > 0 && _session.CanTruncate(cached))
        {
            _session.Truncate(cached);
            _history.RemoveRange(cached, _history.Count - cached);
        }
        else
        {
            cached = 0;
            _session.Reset();
            _history.Clear();
        }

        var remaining = new int[prompt.Count - cached];
        for (int i = 0; i < remaining.Length; i++)
        {
            remaining[i] = prompt[cached + i];
        }

        try
        {
            _session.Forward(remaining, _logits);
        }
        catch
        {
            _session.Reset();
            _history.Clear();
            throw;
        }

        _history.AddRange(remaining);
        double promptSeconds = clock.Elapsed.TotalSeconds;

        var generated = new List<int>(Math.Min(options.MaxTokens, 4096));
        var penaltyHistory = new List<int>(prompt.Count + options.MaxTokens);
        penaltyHistory.AddRange(prompt);
        var stops = options.StopTokenIds as ISet<int> ?? options.StopTokenIds.ToHashSet();
        var topIds = options.TopLogprobs > 0 ? new int[options.TopLogprobs] : null;
        var topValues = options.TopLogprobs > 0 ? new float[options.TopLogprobs] : null;
        double firstTokenSeconds = 0;
        var finish = FinishReason.Length;

        while (generated.Count < options.MaxTokens)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                finish = FinishReason.Cancelled;
                break;
            }

            foreach (var processor in options.LogitsProcessors)
            {
                processor.Process(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(generated), _logits);
            }

            sampler.ApplyPenalties(_logits, System.Runtime.InteropServices.CollectionsMarshal.AsSpan(penaltyHistory));
            int token = sampler.Select(_logits);
            if (generated.Count == 0)
            {
                firstTokenSeconds = clock.Elapsed.TotalSeconds;
            }

            if (!options.IgnoreStopTokens && stops.Contains(token))
            {
                finish = FinishReason.Stop;
                break;
            }

            float? logprob = options.Logprobs ? LogProbabilities.Of(_logits, token) : null;
            TokenLogprob[]? alternatives = null;
            if (options.Logprobs && topIds != null)
            {
                int count = LogProbabilities.Top(_logits, topIds, topValues);
                alternatives = new TokenLogprob[count];
                for (int i = 0; i < count; i++)
                {
                    alternatives[i] = new TokenLogprob(topIds[i], topValues![i]);
                }
            }

            generated.Add(token);
            penaltyHistory.Add(token);
            if (onToken != null && !onToken(new GeneratedToken(token, generated.Count - 1, logprob, alternatives)))
            {
                finish = FinishReason.Stop;
                break;
            }

            if (generated.Count == options.MaxTokens)
            {
                break;
            }

            _session.Forward([token], _logits);
            _history.Add(token);
        }

        double total = clock.Elapsed.TotalSeconds;
        var stats = new GenerationStats
        {
            PromptTokens = prompt.Count,
            CachedPromptTokens = cached,
            PromptSeconds = promptSeconds,
            GeneratedTokens = generated.Count,
            GenerationSeconds = total - promptSeconds,
            TimeToFirstTokenSeconds = generated.Count > 0 ? firstTokenSeconds : 0,
            PeakResidentBytes = ProcessMemory.PeakResidentBytes(),
        };
        return new GenerationResult(generated, finish, stats);
    }

    /// <summary>
    /// Replaces the session's keys and values with a copy of <paramref name="source"/>, which contains
    /// <paramref name="tokens"/>, so the next request reuses them as its cached prefix. Prompt caches
    /// use it to move a stored prefix into the session that serves a request.
    /// </summary>
    /// <exception cref="ArgumentException">The token count differs from the source's position, or the source belongs to another model.</exception>
    public void RestoreState(Gemma4Session source, IReadOnlyList<int> tokens)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(tokens);
        if (source.Position != tokens.Count)
        {
            throw new ArgumentException(
                $"The source session holds {source.Position} tokens but {tokens.Count} token ids were given.", nameof(tokens));
        }

        _session.CopyStateFrom(source);
        _history.Clear();
        _history.AddRange(tokens);
    }

    /// <summary>Forgets the cached tokens (the next request recomputes its whole prompt).</summary>
    public void Reset()
    {
        _session.Reset();
        _history.Clear();
    }

    private int CommonPrefix(IReadOnlyList<int> prompt)
    {
        int limit = Math.Min(prompt.Count, _history.Count);
        int n = 0;
        while (n < limit && prompt[n] == _history[n])
        {
            n++;
        }

        return n;
    }
}
