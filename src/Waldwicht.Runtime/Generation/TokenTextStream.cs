using Waldwicht.Text.Tokenization;

namespace Waldwicht.Runtime.Generation;

/// <summary>A piece of decoded text and whether it came from a special (control) token.</summary>
public readonly record struct TextPiece(string Text, bool IsSpecial);

/// <summary>
/// Turns generated token ids into text pieces as they arrive. Ordinary tokens go through a
/// UTF-8-safe streaming detokenizer, so text appears once its characters are complete. Special
/// tokens flush pending ordinary text and are then emitted as their literal text, flagged.
/// Not thread-safe.
/// </summary>
public sealed class TokenTextStream
{
    private readonly GemmaTokenizer _tokenizer;
    private readonly StreamingDetokenizer _detokenizer;
    private readonly List<TextPiece> _pieces = [];

    public TokenTextStream(GemmaTokenizer tokenizer)
    {
        _tokenizer = tokenizer;
        _detokenizer = tokenizer.CreateStreamingDetokenizer();
    }

    /// <summary>Adds a token and returns the text pieces it completes (often one, sometimes none or two).</summary>
    public IReadOnlyList<TextPiece> Add(int tokenId)
    {
        _pieces.Clear();
        if (_tokenizer.IsSpecial(tokenId))
        {
            string pending = _detokenizer.Flush();
            if (pending.Length > 0)
            {
                _pieces.Add(new TextPiece(pending, false));
            }

            _pieces.Add(new TextPiece(_tokenizer.IdToToken(tokenId) ?? "", true));
            return _pieces;
        }

        string text = _detokenizer.Add(tokenId);
        if (text.Length > 0)
        {
            _pieces.Add(new TextPiece(text, false));
        }

        return _pieces;
    }

    /// <summary>Returns text still held back (an incomplete character at the end becomes U+FFFD).</summary>
    public string Flush() => _detokenizer.Flush();
}
