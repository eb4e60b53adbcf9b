using System.Runtime.CompilerServices;
using System.Text;
using Waldwicht.Text.Tokenization;

namespace Waldwicht.Runtime.ChatClient.Constraints;

/// <summary>
/// The UTF-8 bytes that every token of a vocabulary adds to decoded text, computed once per tokenizer,
/// with a byte trie over them. Constrained decoding walks the trie with a grammar state, so a prefix
/// that the grammar rejects rules out every token below it at once. Immutable and thread-safe.
/// </summary>
public sealed class TokenByteTable
{
    private static readonly ConditionalWeakTable<GemmaTokenizer, TokenByteTable> Cache = new();

    private TokenByteTable(GemmaTokenizer tokenizer)
    {
        int size = tokenizer.VocabularySize;
        Bytes = new byte[]?[size];
        var trie = new ByteTrie.Builder();
        var plain = new List<int>();
        var other = new List<int>();
        for (int id = 0; id < size; id++)
        {
            if (tokenizer.IsSpecial(id) || tokenizer.IdToToken(id) is null)
            {
                continue;
            }

            byte[] bytes = TokenBytes(tokenizer, id);
            if (bytes.Length == 0)
            {
                continue;
            }

            Bytes[id] = bytes;
            trie.Add(bytes, id);
            if (IsPlainStringContent(bytes))
            {
                plain.Add(id);
            }
            else
            {
                other.Add(id);
            }
        }

        Trie = trie.Build();
        PlainStringTokens = [.. plain];
        OtherTextTokens = [.. other];
        VocabularySize = size;
    }

    public int VocabularySize { get; }

    /// <summary>Bytes per token id; null for special tokens and tokens that decode to nothing.</summary>
    public byte[]?[] Bytes { get; }

    /// <summary>Text tokens whose bytes may all appear unescaped inside a JSON string.</summary>
    public int[] PlainStringTokens { get; }

    /// <summary>Text tokens that contain a quote, a backslash or a control character.</summary>
    public int[] OtherTextTokens { get; }

    /// <summary>Trie over the bytes of every text token.</summary>
    public ByteTrie Trie { get; }

    /// <summary>Returns the table of <paramref name="tokenizer"/>, building it on first use.</summary>
    public static TokenByteTable For(GemmaTokenizer tokenizer)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        return Cache.GetValue(tokenizer, static t => new TokenByteTable(t));
    }

    /// <summary>
    /// Returns the UTF-8 bytes one token adds to decoded text: the byte of a byte-fallback piece
    /// (<c>&lt;0xNN&gt;</c>), the literal text of a special token, otherwise the token decoded alone.
    /// </summary>
    public static byte[] TokenBytes(GemmaTokenizer tokenizer, int id)
    {
        ArgumentNullException.ThrowIfNull(tokenizer);
        string piece = tokenizer.IdToToken(id) ?? string.Empty;
        if (tokenizer.IsSpecial(id))
        {
            return Encoding.UTF8.GetBytes(piece);
        }

        if (piece.Length == 6 && piece.StartsWith("<0x", StringComparison.Ordinal) && piece[5] == '>'
            && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte value))
        {
            return [value];
        }

        return Encoding.UTF8.GetBytes(tokenizer.Decode([id]));
    }

    private static bool IsPlainStringContent(byte[] bytes)
    {
        foreach (byte b in bytes)
        {
            if (b < 0x20 || b == (byte)'"' || b == (byte)'\\')
            {
                return false;
            }
        }

        return true;
    }
}

/// <summary>
/// A byte trie stored in flat arrays: node 0 is the root; children are linked through
/// <see cref="FirstChild"/> and <see cref="NextSibling"/>; the tokens that end at a node are linked
/// through <see cref="FirstToken"/> and <see cref="NextToken"/> (-1 ends a list).
/// </summary>
public sealed class ByteTrie
{
    private ByteTrie(byte[] label, int[] firstChild, int[] nextSibling, int[] firstToken, int[] nextToken)
    {
        Label = label;
        FirstChild = firstChild;
        NextSibling = nextSibling;
        FirstToken = firstToken;
        NextToken = nextToken;
    }

    /// <summary>Byte on the edge into each node (unused for the root).</summary>
    public byte[] Label { get; }

    public int[] FirstChild { get; }

    public int[] NextSibling { get; }

    /// <summary>First token id ending at each node, or -1.</summary>
    public int[] FirstToken { get; }

    /// <summary>Next token id with the same bytes, indexed by token id, or -1.</summary>
    public int[] NextToken { get; }

    public int NodeCount => Label.Length;

    internal sealed class Builder
    {
        private readonly List<byte> _label = [0];
        private readonly List<int> _firstChild = [-1];
        private readonly List<int> _nextSibling = [-1];
        private readonly List<int> _firstToken = [-1];
        private readonly Dictionary<int, int> _nextToken = [];
        private int _maxToken = -1;

        public void Add(byte[] bytes, int tokenId)
        {
            int node = 0;
            foreach (byte b in bytes)
            {
                int child = _firstChild[node];
                while (child >= 0 && _label[child] != b)
                {
                    child = _nextSibling[child];
                }

                if (child < 0)
                {
                    child = _label.Count;
                    _label.Add(b);
                    _firstChild.Add(-1);
                    _nextSibling.Add(_firstChild[node]);
                    _firstToken.Add(-1);
                    _firstChild[node] = child;
                }

                node = child;
            }

            _nextToken[tokenId] = _firstToken[node];
            _firstToken[node] = tokenId;
            _maxToken = Math.Max(_maxToken, tokenId);
        }

        public ByteTrie Build()
        {
            var next = new int[_maxToken + 1];
            Array.Fill(next, -1);
            foreach (var (token, following) in _nextToken)
            {
                next[token] = following;
            }

            return new ByteTrie([.. _label], [.. _firstChild], [.. _nextSibling], [.. _firstToken], next);
        }
    }
}
