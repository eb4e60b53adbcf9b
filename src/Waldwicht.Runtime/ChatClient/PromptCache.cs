using Waldwicht.Model.Gemma4;
using Waldwicht.Runtime.Generation;

namespace Waldwicht.Runtime.ChatClient;

/// <summary>
/// Keys and values of recent requests (prompt plus reply), kept as session copies and reused for later
/// prompts that share a prefix with them. Bounded by entry count and bytes, least recently used first out.
/// Thread-safe.
/// </summary>
/// <remarks>
/// A stored sequence serves a prompt in two ways. When the whole sequence is a prefix of the prompt (the usual
/// case for the next turn of a conversation), its copy is extended. When only part of it matches, a copy is
/// rewound to the shared prefix. Rewinding works only while the sliding-window layers have not wrapped
/// (<see cref="Gemma4Session.CanTruncate"/>), so for long sequences only the first way applies.
/// </remarks>
public sealed class PromptCache
{
    private readonly object _lock = new();
    private readonly LinkedList<Entry> _entries = new();
    private readonly Gemma4Model _model;
    private long _bytes;

    /// <param name="model">The model whose sessions are cached.</param>
    /// <param name="maxEntries">Most stored sequences; 0 turns the cache off.</param>
    /// <param name="maxBytes">Most bytes of stored keys and values.</param>
    public PromptCache(Gemma4Model model, int maxEntries, long maxBytes)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentOutOfRangeException.ThrowIfNegative(maxEntries);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        _model = model;
        MaxEntries = maxEntries;
        MaxBytes = maxBytes;
    }

    public int MaxEntries { get; }

    public long MaxBytes { get; }

    /// <summary>Number of stored sequences.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Bytes allocated by the stored sessions.</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    /// <summary>
    /// Gives <paramref name="generator"/> the stored state that shares the longest usable prefix with
    /// <paramref name="prompt"/>, when that prefix is longer than what the generator already holds. Returns
    /// the number of prompt tokens the generator can then reuse.
    /// </summary>
    public int Restore(Generator generator, IReadOnlyList<int> prompt)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentNullException.ThrowIfNull(prompt);
        int own = UsablePrefix(generator.CachedTokens, generator.Session, prompt);
        Entry? best = null;
        int bestLength = own;
        lock (_lock)
        {
            for (var node = _entries.First; node != null; node = node.Next)
            {
                int usable = UsablePrefix(node.Value.Tokens, node.Value.Snapshot, prompt);
                if (usable > bestLength)
                {
                    best = node.Value;
                    bestLength = usable;
                }
            }

            if (best != null)
            {
                _entries.Remove(best.Node!);
                _entries.AddFirst(best.Node!);
            }
        }

        // Snapshots are never changed after they are stored, so copying outside the lock is safe even if the
        // entry is evicted meanwhile.
        if (best != null)
        {
            generator.RestoreState(best.Snapshot, best.Tokens);
        }

        return bestLength;
    }

    /// <summary>Stores a copy of the generator's current state (its prompt and reply).</summary>
    public void Store(Generator generator)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (MaxEntries == 0 || generator.CachedTokens.Count == 0)
        {
            return;
        }

        int[] tokens = [.. generator.CachedTokens];
        lock (_lock)
        {
            for (var node = _entries.First; node != null; node = node.Next)
            {
                if (node.Value.Tokens.AsSpan().SequenceEqual(tokens))
                {
                    _entries.Remove(node);
                    _entries.AddFirst(node);
                    return;
                }
            }
        }

        var snapshot = _model.CreateSession(maxChunk: 1);
        snapshot.CopyStateFrom(generator.Session);
        long bytes = snapshot.KvCacheAllocatedBytes;
        if (bytes > MaxBytes)
        {
            return;
        }

        var entry = new Entry(tokens, snapshot, bytes);
        lock (_lock)
        {
            // An older entry whose sequence the new one extends is redundant when the new one can be rewound to it.
            for (var node = _entries.First; node != null;)
            {
                var next = node.Next;
                var old = node.Value.Tokens;
                if (old.Length <= tokens.Length && tokens.AsSpan(0, old.Length).SequenceEqual(old) && snapshot.CanTruncate(old.Length))
                {
                    RemoveLocked(node);
                }

                node = next;
            }

            entry.Node = _entries.AddFirst(entry);
            Interlocked.Add(ref _bytes, bytes);
            while (_entries.Count > MaxEntries || Interlocked.Read(ref _bytes) > MaxBytes)
            {
                RemoveLocked(_entries.Last!);
            }
        }
    }

    /// <summary>Drops every stored sequence; returns the bytes released.</summary>
    public long Clear()
    {
        lock (_lock)
        {
            long released = Interlocked.Exchange(ref _bytes, 0);
            _entries.Clear();
            return released;
        }
    }

    /// <summary>
    /// Number of leading prompt tokens a state holding <paramref name="tokens"/> can serve: the shared prefix,
    /// at most all but the last prompt token (which must be processed to get logits), and 0 when serving it
    /// would need a rewind the session cannot do.
    /// </summary>
    internal static int UsablePrefix(IReadOnlyList<int> tokens, Gemma4Session session, IReadOnlyList<int> prompt)
    {
        int limit = Math.Min(tokens.Count, prompt.Count - 1);
        int shared = 0;
        while (shared < limit && tokens[shared] == prompt[shared])
        {
            shared++;
        }

        if (shared == 0)
        {
            return 0;
        }

        return shared == tokens.Count || session.CanTruncate(shared) ? shared : 0;
    }

    private void RemoveLocked(LinkedListNode<Entry> node)
    {
        _entries.Remove(node);
        Interlocked.Add(ref _bytes, -node.Value.Bytes);
    }

    private sealed class Entry(int[] tokens, Gemma4Session snapshot, long bytes)
    {
        public int[] Tokens { get; } = tokens;

        public Gemma4Session Snapshot { get; } = snapshot;

        public long Bytes { get; } = bytes;

        public LinkedListNode<Entry>? Node { get; set; }
    }
}
