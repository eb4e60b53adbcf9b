using Waldwicht.Model.Cache;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Model.Gemma4;

/// <summary>
/// One decoding state of a <see cref="Gemma4Model"/>: the KV caches of the layers that own one and
/// the scratch buffers of the forward pass, sized once so that decoding allocates nothing.
/// Not thread-safe: use one session per concurrent sequence.
/// </summary>
public sealed partial class Gemma4Session
{
    private readonly Gemma4Model _model;
    private readonly Gemma4Config _config;
    private readonly LayerKvCache?[] _caches;
    private readonly Workspace _work;

    private readonly WorkerPool? _pool;

    internal Gemma4Session(Gemma4Model model, int maxChunk, WorkerPool? pool)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxChunk);
        _model = model;
        _pool = pool;
        _config = model.Config;
        MaxChunk = maxChunk;
        _caches = new LayerKvCache?[_config.NumHiddenLayers];
        for (int layer = 0; layer < _config.NumHiddenLayers; layer++)
        {
            if (!_config.IsKvShared(layer))
            {
                int width = _config.NumKeyValueHeads * _config.LayerHeadDim(layer);
                int? window = _config.LayerType(layer) == AttentionKind.Sliding ? _config.SlidingWindow : null;
                _caches[layer] = new LayerKvCache(width, window);
            }
        }

        _work = new Workspace(_config, maxChunk);
    }

    public Gemma4Model Model => _model;

    /// <summary>
    /// Worker pool of this session's matrix products and attention: the one given at creation, or
    /// <see cref="WorkerPool.Shared"/> (read at each use, so a replaced shared pool takes effect).
    /// </summary>
    public WorkerPool Pool => _pool ?? WorkerPool.Shared;

    /// <summary>Most tokens processed in one internal forward step.</summary>
    public int MaxChunk { get; }

    /// <summary>Number of tokens processed so far (the position of the next token).</summary>
    public int Position { get; private set; }

    /// <summary>Bytes currently used by stored keys and values.</summary>
    public long KvCacheBytes => _caches.Sum(c => c?.UsedBytes ?? 0);

    /// <summary>Bytes allocated for keys and values.</summary>
    public long KvCacheAllocatedBytes => _caches.Sum(c => c?.AllocatedBytes ?? 0);

    /// <summary>Vocabulary size: the length of one logits row.</summary>
    public int VocabSize => _config.VocabSize;

    /// <summary>
    /// Processes <paramref name="tokens"/> at the next positions and writes logits: for the last
    /// token only ([V]), for every token when <paramref name="allPositions"/> is set ([tokens, V]),
    /// or none when <paramref name="logits"/> is empty. Logits are soft-capped.
    /// </summary>
    public void Forward(ReadOnlySpan<int> tokens, Span<float> logits, bool allPositions = false, IForwardObserver? observer = null)
    {
        int vocab = _config.VocabSize;
        if (tokens.IsEmpty)
        {
            throw new ArgumentException("At least one token is required.", nameof(tokens));
        }

        long needed = 0;
        if (!logits.IsEmpty)
        {
            needed = allPositions ? (long)tokens.Length * vocab : vocab;
        }
        if (logits.Length < needed)
        {
            throw new ArgumentException($"Logits buffer has {logits.Length} floats, {needed} are needed.", nameof(logits));
        }

        foreach (int token in tokens)
        {
            if ((uint)token >= (uint)vocab)
            {
                throw new ArgumentOutOfRangeException(nameof(tokens), token, $"Token id must be between 0 and {vocab - 1}.");
            }
        }

        for (int start = 0; start < tokens.Length; start += MaxChunk)
        {
            int count = Math.Min(MaxChunk, tokens.Length - start);
            bool last = start + count == tokens.Length;
            Span<float> chunkLogits = Span<float>.Empty;
            int logitRows = 0;
            if (!logits.IsEmpty && allPositions)
            {
                chunkLogits = logits.Slice(start * vocab, count * vocab);
                logitRows = count;
            }
            else if (!logits.IsEmpty && last)
            {
                chunkLogits = logits[..vocab];
                logitRows = 1;
            }

            ForwardChunk(tokens.Slice(start, count), chunkLogits, logitRows, observer);
        }
    }

    /// <summary>True if the session can be rewound to <paramref name="length"/> tokens.</summary>
    public bool CanTruncate(int length) => _caches.All(c => c == null || c.CanTruncate(length));

    /// <summary>Rewinds the session to its first <paramref name="length"/> tokens.</summary>
    /// <exception cref="InvalidOperationException">A sliding-window cache has already overwritten positions the prefix needs.</exception>
    public void Truncate(int length)
    {
        if (!CanTruncate(length))
        {
            throw new InvalidOperationException(
                $"Cannot rewind from {Position} to {length} tokens: sliding-window caches have wrapped.");
        }

        foreach (var cache in _caches)
        {
            cache?.Truncate(length);
        }

        Position = length;
    }

    /// <summary>Forgets all processed tokens.</summary>
    public void Reset()
    {
        foreach (var cache in _caches)
        {
            cache?.Clear();
        }

        Position = 0;
    }

    /// <summary>Copies the KV caches and position of another session of the same model into this one.</summary>
    public void CopyStateFrom(Gemma4Session other)
    {
        if (!ReferenceEquals(other._model, _model))
        {
            throw new ArgumentException("Sessions belong to different models.", nameof(other));
        }

        for (int i = 0; i < _caches.Length; i++)
        {
            _caches[i]?.CopyFrom(other._caches[i]!);
        }

        Position = other.Position;
    }
}
