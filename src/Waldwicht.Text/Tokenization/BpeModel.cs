using System.Collections.Concurrent;
using System.Text;

namespace Waldwicht.Text.Tokenization;

/// <summary>
/// Byte-pair encoding model of a Hugging Face tokenizer.json ("type": "BPE") with the behaviour of the
/// Hugging Face tokenizers library: merges applied by rank through a priority queue, byte fallback to
/// <c>&lt;0xNN&gt;</c> pieces, and an optional (fused) unknown token.
/// </summary>
/// <remarks>Immutable after construction except for the word cache, so it is safe for concurrent use.</remarks>
internal sealed class BpeModel
{
    /// <summary>Words up to this many UTF-16 code units are cached; the Hugging Face library caches words under 256 bytes.</summary>
    private const int MaxCachedWordLength = 256;

    /// <summary>Entry count at which the word cache is cleared, which bounds its memory.</summary>
    private const int MaxCacheEntries = 50_000;

    private readonly Dictionary<string, int> vocabulary;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> vocabularyBySpan;
    private readonly string?[] tokensById;

    // Key: (left id << 32) | right id. Value: (rank << 32) | merged id.
    private readonly Dictionary<long, long> merges;

    private static readonly PairComparer MergeKeyComparer = new();

    // Id of the piece <0xNN> for every byte value, or -1 where the vocabulary lacks it.
    private readonly int[] byteIds;
    private readonly bool hasAllBytePieces;

    private readonly ConcurrentDictionary<string, int[]> wordCache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> wordCacheBySpan;

    /// <param name="vocabulary">Pieces and their ids.</param>
    /// <param name="merges">The merge table built from the same vocabulary.</param>
    public BpeModel(
        Dictionary<string, int> vocabulary,
        MergeTableBuilder merges,
        string? unknownToken,
        bool fuseUnknown,
        bool byteFallback,
        bool ignoreMerges)
    {
        this.vocabulary = vocabulary;
        vocabularyBySpan = vocabulary.GetAlternateLookup<ReadOnlySpan<char>>();
        wordCacheBySpan = wordCache.GetAlternateLookup<ReadOnlySpan<char>>();
        FuseUnknown = fuseUnknown;
        ByteFallback = byteFallback;
        IgnoreMerges = ignoreMerges;

        var maxId = -1;
        foreach (var id in vocabulary.Values)
        {
            if (id < 0)
            {
                throw new InvalidDataException($"tokenizer.json: the model vocabulary contains the negative id {id}; ids must be 0 or greater.");
            }

            maxId = Math.Max(maxId, id);
        }

        tokensById = new string?[maxId + 1];
        foreach (var (token, id) in vocabulary)
        {
            tokensById[id] = token;
        }

        if (unknownToken != null)
        {
            if (!vocabulary.TryGetValue(unknownToken, out var unknownId))
            {
                throw new InvalidDataException(
                    $"tokenizer.json: the unknown token '{unknownToken}' (model.unk_token) is not in the model vocabulary; add it to model.vocab or set unk_token to null.");
            }

            UnknownId = unknownId;
        }

        byteIds = new int[256];
        hasAllBytePieces = true;
        for (var b = 0; b < 256; b++)
        {
            byteIds[b] = vocabulary.TryGetValue(BytePiece.Name((byte)b), out var byteId) ? byteId : -1;
            hasAllBytePieces &= byteIds[b] >= 0;
        }

        this.merges = merges.Table;
    }

    /// <summary>Id of the unknown token, or -1 when the model has none.</summary>
    public int UnknownId { get; } = -1;

    public bool FuseUnknown { get; }

    public bool ByteFallback { get; }

    public bool IgnoreMerges { get; }

    /// <summary>One more than the largest id of the model vocabulary.</summary>
    public int IdLimit => tokensById.Length;

    /// <summary>Number of pieces in the model vocabulary.</summary>
    public int PieceCount => vocabulary.Count;

    public string? IdToToken(int id) => (uint)id < (uint)tokensById.Length ? tokensById[id] : null;

    public int? TokenToId(string token) => vocabulary.TryGetValue(token, out var id) ? id : null;

    public int? TokenToId(ReadOnlySpan<char> token) => vocabularyBySpan.TryGetValue(token, out var id) ? id : null;

    /// <summary>Encodes one pre-tokenized word and appends its ids to <paramref name="output"/>.</summary>
    public void Tokenize(ReadOnlySpan<char> word, List<int> output)
    {
        if (word.IsEmpty)
        {
            return;
        }

        if (IgnoreMerges && vocabularyBySpan.TryGetValue(word, out var wholeId))
        {
            output.Add(wholeId);
            return;
        }

        var cacheable = word.Length <= MaxCachedWordLength;
        if (cacheable && wordCacheBySpan.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }

        var start = output.Count;
        MergeWord(word, output);

        if (cacheable)
        {
            if (wordCache.Count >= MaxCacheEntries)
            {
                wordCache.Clear();
            }

            wordCacheBySpan.TryAdd(word, output.GetRange(start, output.Count - start).ToArray());
        }
    }

    private bool TryGetMerge(int leftId, int rightId, out int rank, out int mergedId)
    {
        if (merges.TryGetValue(((long)leftId << 32) | (uint)rightId, out var packed))
        {
            rank = (int)(packed >> 32);
            mergedId = (int)(uint)packed;
            return true;
        }

        rank = 0;
        mergedId = 0;
        return false;
    }

    /// <summary>
    /// Splits the word into characters (byte pieces or the unknown token where a character has no piece) and
    /// applies the merges. The symbols form a linked list, and a priority queue ordered by (rank, position) picks the
    /// next merge. A word of n characters therefore costs O(n log n), so a long text without spaces stays fast.
    /// </summary>
    private void MergeWord(ReadOnlySpan<char> word, List<int> output)
    {
        var symbols = new List<int>(word.Length);
        var pendingUnknown = false;
        Span<byte> utf8 = stackalloc byte[4];

        for (var i = 0; i < word.Length;)
        {
            var length = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            var character = word.Slice(i, length);
            i += length;

            if (vocabularyBySpan.TryGetValue(character, out var id))
            {
                if (pendingUnknown)
                {
                    symbols.Add(UnknownId);
                    pendingUnknown = false;
                }

                symbols.Add(id);
                continue;
            }

            if (ByteFallback && hasAllBytePieces)
            {
                // The Hugging Face library adds the byte pieces without first emitting a pending unknown token.
                // This keeps that order, which only matters for vocabularies that lack some byte pieces.
                var status = Rune.DecodeFromUtf16(character, out var rune, out _);
                var byteCount = (status == System.Buffers.OperationStatus.Done ? rune : Rune.ReplacementChar).EncodeToUtf8(utf8);
                for (var b = 0; b < byteCount; b++)
                {
                    symbols.Add(byteIds[utf8[b]]);
                }

                continue;
            }

            if (UnknownId >= 0)
            {
                if (pendingUnknown && !FuseUnknown)
                {
                    symbols.Add(UnknownId);
                }

                pendingUnknown = true;
            }
        }

        if (pendingUnknown)
        {
            symbols.Add(UnknownId);
        }

        ApplyMerges(symbols, output);
    }

    private void ApplyMerges(List<int> symbols, List<int> output)
    {
        var count = symbols.Count;
        if (count < 2 || merges.Count == 0)
        {
            output.AddRange(symbols);
            return;
        }

        var ids = symbols.ToArray();
        var previous = new int[count];
        var next = new int[count];
        var removed = new bool[count];
        for (var i = 0; i < count; i++)
        {
            previous[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }

        // Element: (position, merged id); priority: (rank << 32) | position, so equal ranks merge left to right.
        var queue = new PriorityQueue<(int Position, int MergedId), long>(count);
        for (var i = 0; i + 1 < count; i++)
        {
            if (TryGetMerge(ids[i], ids[i + 1], out var rank, out var mergedId))
            {
                queue.Enqueue((i, mergedId), ((long)rank << 32) | (uint)i);
            }
        }

        while (queue.TryDequeue(out var entry, out _))
        {
            var position = entry.Position;
            if (removed[position] || next[position] < 0)
            {
                continue;
            }

            // Skip entries made stale by an earlier merge next to them.
            var right = next[position];
            if (!TryGetMerge(ids[position], ids[right], out _, out var currentMergedId) || currentMergedId != entry.MergedId)
            {
                continue;
            }

            ids[position] = entry.MergedId;
            removed[right] = true;
            next[position] = next[right];
            if (next[right] >= 0)
            {
                previous[next[right]] = position;
            }

            var left = previous[position];
            if (left >= 0 && TryGetMerge(ids[left], ids[position], out var leftRank, out var leftMergedId))
            {
                queue.Enqueue((left, leftMergedId), ((long)leftRank << 32) | (uint)left);
            }

            var after = next[position];
            if (after >= 0 && TryGetMerge(ids[position], ids[after], out var rightRank, out var rightMergedId))
            {
                queue.Enqueue((position, rightMergedId), ((long)rightRank << 32) | (uint)position);
            }
        }

        for (var i = 0; i >= 0; i = next[i])
        {
            output.Add(ids[i]);
        }
    }

    /// <summary>
    /// Builds the merge table from the "merges" list: each pair of pieces maps to its rank (its index in the list)
    /// and the id of the joined piece. A later duplicate of a pair replaces the earlier one, as in the Hugging Face
    /// library.
    /// </summary>
    internal sealed class MergeTableBuilder
    {
        private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> vocabularyBySpan;
        private char[] joined = new char[256];
        private int rank;

        public MergeTableBuilder(Dictionary<string, int> vocabulary, int capacity)
        {
            vocabularyBySpan = vocabulary.GetAlternateLookup<ReadOnlySpan<char>>();
            Table = new Dictionary<long, long>(capacity, MergeKeyComparer);
        }

        public Dictionary<long, long> Table { get; }

        public void Add(ReadOnlySpan<char> left, ReadOnlySpan<char> right)
        {
            var leftId = LookUp(left);
            var rightId = LookUp(right);
            var length = left.Length + right.Length;
            if (joined.Length < length)
            {
                joined = new char[length * 2];
            }

            left.CopyTo(joined);
            right.CopyTo(joined.AsSpan(left.Length));
            if (!vocabularyBySpan.TryGetValue(joined.AsSpan(0, length), out var mergedId))
            {
                throw new InvalidDataException(
                    $"tokenizer.json: merge {rank} ('{left}' + '{right}') produces '{joined.AsSpan(0, length)}', which is not in the model vocabulary.");
            }

            Table[((long)leftId << 32) | (uint)rightId] = ((long)rank << 32) | (uint)mergedId;
            rank++;
        }

        private int LookUp(ReadOnlySpan<char> piece) =>
            vocabularyBySpan.TryGetValue(piece, out var id)
                ? id
                : throw new InvalidDataException($"tokenizer.json: merge {rank} uses '{piece}', which is not in the model vocabulary.");
    }

    /// <summary>Hashes a pair key with a multiplicative mix; the default long hash (high ^ low) collides for id pairs.</summary>
    private sealed class PairComparer : IEqualityComparer<long>
    {
        public bool Equals(long x, long y) => x == y;

        public int GetHashCode(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 32);
    }
}
