using System.Buffers;
using System.Globalization;
using System.Text;

namespace Waldwicht.Text.Tokenization;

/// <summary>
/// Finds added tokens in a text like the Hugging Face tokenizers library: non-overlapping matches from left to
/// right, the longest token at the leftmost position (Aho-Corasick "leftmost longest"), then the single_word,
/// lstrip and rstrip rules of each token.
/// </summary>
internal sealed class AddedTokenMatcher
{
    private readonly Dictionary<long, int> edges = new();
    private readonly List<AddedToken?> tokenAtNode = [null];
    private readonly SearchValues<char>? firstCharacters;

    /// <param name="patterns">Each token with the text it is matched as; on duplicate texts the first one wins.</param>
    public AddedTokenMatcher(IEnumerable<(AddedToken Token, string Pattern)> patterns)
    {
        var firsts = new HashSet<char>();
        foreach (var (token, pattern) in patterns)
        {
            if (pattern.Length == 0)
            {
                continue;
            }

            firsts.Add(pattern[0]);
            var node = 0;
            foreach (var c in pattern)
            {
                var key = ((long)node << 16) | c;
                if (!edges.TryGetValue(key, out var child))
                {
                    child = tokenAtNode.Count;
                    tokenAtNode.Add(null);
                    edges.Add(key, child);
                }

                node = child;
            }

            tokenAtNode[node] ??= token;
        }

        if (firsts.Count > 0)
        {
            firstCharacters = SearchValues.Create(firsts.ToArray());
        }
    }

    /// <summary>
    /// Splits <paramref name="text"/> into pieces that are either an added token (with its id) or plain text
    /// (id -1). The pieces cover the text in order; an empty text gives one empty plain piece.
    /// </summary>
    public List<(int Start, int End, int Id)> Split(string text)
    {
        var pieces = new List<(int Start, int End, int Id)>();
        var pieceStart = 0;
        var searchFrom = 0;

        while (firstCharacters != null && searchFrom < text.Length)
        {
            var candidate = text.AsSpan(searchFrom).IndexOfAny(firstCharacters);
            if (candidate < 0)
            {
                break;
            }

            var start = searchFrom + candidate;
            var (token, end) = LongestMatchAt(text, start);
            if (token == null)
            {
                searchFrom = start + 1;
                continue;
            }

            // Like the Hugging Face library, a match that the rules below discard still consumes its text.
            searchFrom = end;

            if (token.SingleWord)
            {
                var spaceBefore = start == 0 || !EndsWithWordCharacter(text.AsSpan(0, start));
                var spaceAfter = end == text.Length || !StartsWithWordCharacter(text.AsSpan(end));
                if (!spaceBefore || !spaceAfter)
                {
                    continue;
                }
            }

            if (token.LeftStrip)
            {
                start = Math.Max(StartOfTrailingWhitespace(text.AsSpan(0, start)), pieceStart);
            }

            if (token.RightStrip)
            {
                end += LengthOfLeadingWhitespace(text.AsSpan(end));
            }

            if (pieceStart < start)
            {
                pieces.Add((pieceStart, start, -1));
            }

            pieces.Add((start, end, token.Id));
            pieceStart = end;
        }

        if (pieceStart != text.Length || text.Length == 0)
        {
            pieces.Add((pieceStart, text.Length, -1));
        }

        return pieces;
    }

    private (AddedToken? Token, int End) LongestMatchAt(string text, int start)
    {
        AddedToken? best = null;
        var bestEnd = start;
        var node = 0;
        for (var i = start; i < text.Length; i++)
        {
            if (!edges.TryGetValue(((long)node << 16) | text[i], out node))
            {
                break;
            }

            if (tokenAtNode[node] is { } token)
            {
                best = token;
                bestEnd = i + 1;
            }
        }

        return (best, bestEnd);
    }

    // Rust's regex \w: alphabetic, marks, decimal digits, connector punctuation and the join controls.
    private static bool IsWordCharacter(Rune rune)
    {
        if (rune.Value is 0x200C or 0x200D)
        {
            return true;
        }

        return Rune.GetUnicodeCategory(rune) switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter or UnicodeCategory.LetterNumber
                or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
                or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.ConnectorPunctuation => true,
            _ => false,
        };
    }

    private static bool EndsWithWordCharacter(ReadOnlySpan<char> text) =>
        Rune.DecodeLastFromUtf16(text, out var rune, out _) == OperationStatus.Done && IsWordCharacter(rune);

    private static bool StartsWithWordCharacter(ReadOnlySpan<char> text) =>
        Rune.DecodeFromUtf16(text, out var rune, out _) == OperationStatus.Done && IsWordCharacter(rune);

    // Every Unicode White_Space character is in the BMP, and char.IsWhiteSpace tests exactly that property.
    private static int StartOfTrailingWhitespace(ReadOnlySpan<char> text)
    {
        var i = text.Length;
        while (i > 0 && char.IsWhiteSpace(text[i - 1]))
        {
            i--;
        }

        return i;
    }

    private static int LengthOfLeadingWhitespace(ReadOnlySpan<char> text)
    {
        var i = 0;
        while (i < text.Length && char.IsWhiteSpace(text[i]))
        {
            i++;
        }

        return i;
    }
}
