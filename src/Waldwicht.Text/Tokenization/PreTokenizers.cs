namespace Waldwicht.Text.Tokenization;

/// <summary>A pre-tokenizer step of tokenizer.json: splits a normalized piece into words for the model.</summary>
internal abstract class PreTokenizer
{
    /// <summary>Splits <paramref name="text"/> into words; empty words are left out.</summary>
    public abstract void Split(string text, List<string> words);
}

/// <summary>How a Split pre-tokenizer treats the delimiter (tokenizers' SplitDelimiterBehavior).</summary>
internal enum SplitBehavior
{
    Removed,
    Isolated,
    MergedWithPrevious,
    MergedWithNext,
    Contiguous,
}

/// <summary>"Split" with a string pattern (Gemma 3 and 4 split on a space, which the normalizer has already replaced).</summary>
internal sealed class SplitPreTokenizer(string pattern, SplitBehavior behavior, bool invert) : PreTokenizer
{
    public override void Split(string text, List<string> words)
    {
        // Ranges of the text, each flagged as delimiter match or not (after inversion), covering the text.
        var ranges = new List<(int Start, int End, bool IsMatch)>();
        var previous = 0;
        for (var index = text.IndexOf(pattern, StringComparison.Ordinal); index >= 0;
             index = text.IndexOf(pattern, index + pattern.Length, StringComparison.Ordinal))
        {
            if (index != previous)
            {
                ranges.Add((previous, index, invert));
            }

            ranges.Add((index, index + pattern.Length, !invert));
            previous = index + pattern.Length;
        }

        if (previous != text.Length)
        {
            ranges.Add((previous, text.Length, invert));
        }

        foreach (var (start, end) in Group(ranges))
        {
            if (end > start)
            {
                words.Add(text[start..end]);
            }
        }
    }

    private IEnumerable<(int Start, int End)> Group(List<(int Start, int End, bool IsMatch)> ranges)
    {
        switch (behavior)
        {
            case SplitBehavior.Removed:
                return ranges.Where(r => !r.IsMatch).Select(r => (r.Start, r.End));
            case SplitBehavior.Isolated:
                return ranges.Select(r => (r.Start, r.End));
            case SplitBehavior.Contiguous:
                return MergeRuns(ranges, (isMatch, previousMatch) => isMatch == previousMatch);
            case SplitBehavior.MergedWithPrevious:
                return MergeRuns(ranges, (isMatch, previousMatch) => isMatch && !previousMatch);
            default:
                var reversed = new List<(int Start, int End, bool IsMatch)>(ranges);
                reversed.Reverse();
                var merged = MergeRuns(reversed, (isMatch, previousMatch) => isMatch && !previousMatch, backwards: true);
                merged.Reverse();
                return merged;
        }
    }

    /// <summary>Joins a range to the one collected before it when <paramref name="join"/> returns true.</summary>
    private static List<(int Start, int End)> MergeRuns(
        List<(int Start, int End, bool IsMatch)> ranges, Func<bool, bool, bool> join, bool backwards = false)
    {
        var result = new List<(int Start, int End)>();
        var previousMatch = false;
        foreach (var (start, end, isMatch) in ranges)
        {
            if (join(isMatch, previousMatch) && result.Count > 0)
            {
                var last = result[^1];
                result[^1] = backwards ? (start, last.End) : (last.Start, end);
            }
            else
            {
                result.Add((start, end));
            }

            previousMatch = isMatch;
        }

        return result;
    }
}

/// <summary>"Sequence": applies its pre-tokenizers in order, each to every word of the one before.</summary>
internal sealed class SequencePreTokenizer(IReadOnlyList<PreTokenizer> preTokenizers) : PreTokenizer
{
    public override void Split(string text, List<string> words)
    {
        List<string> current = [text];
        foreach (var preTokenizer in preTokenizers)
        {
            var next = new List<string>();
            foreach (var word in current)
            {
                preTokenizer.Split(word, next);
            }

            current = next;
        }

        words.AddRange(current.Where(w => w.Length > 0));
    }
}
