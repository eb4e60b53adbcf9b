namespace Waldwicht.Runtime.ChatClient;

/// <summary>
/// Finds stop sequences in text that arrives in pieces, across piece boundaries. Text that could be the
/// start of a stop sequence is held back until later text decides it, so no part of a match is ever
/// released; the text before a match is released and everything from the match on is dropped.
/// Not thread-safe; use one per reply.
/// </summary>
public sealed class StopSequenceMatcher
{
    private readonly string[] _stops;
    private string _held = string.Empty;

    /// <exception cref="ArgumentException">A stop sequence is empty.</exception>
    public StopSequenceMatcher(IReadOnlyList<string> stopSequences)
    {
        ArgumentNullException.ThrowIfNull(stopSequences);
        foreach (var stop in stopSequences)
        {
            if (string.IsNullOrEmpty(stop))
            {
                throw new ArgumentException("Stop sequences must not be empty.", nameof(stopSequences));
            }
        }

        _stops = [.. stopSequences];
    }

    /// <summary>True once a stop sequence matched; later text is ignored.</summary>
    public bool Matched { get; private set; }

    /// <summary>The stop sequence that matched, or null.</summary>
    public string? MatchedSequence { get; private set; }

    /// <summary>Adds text and returns the part that can be released now (possibly empty).</summary>
    public string Append(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Matched)
        {
            return string.Empty;
        }

        if (_stops.Length == 0)
        {
            return text;
        }

        string buffer = _held + text;
        int earliest = -1;
        foreach (var stop in _stops)
        {
            int index = buffer.IndexOf(stop, StringComparison.Ordinal);
            if (index >= 0 && (earliest < 0 || index < earliest))
            {
                earliest = index;
                MatchedSequence = stop;
            }
        }

        if (earliest >= 0)
        {
            Matched = true;
            _held = string.Empty;
            return buffer[..earliest];
        }

        int hold = LongestPartialMatch(buffer);
        _held = buffer[(buffer.Length - hold)..];
        return buffer[..(buffer.Length - hold)];
    }

    /// <summary>Releases held-back text at the end of the reply (nothing after a match).</summary>
    public string Flush()
    {
        string rest = Matched ? string.Empty : _held;
        _held = string.Empty;
        return rest;
    }

    /// <summary>Length of the longest suffix of <paramref name="buffer"/> that is a proper prefix of a stop sequence.</summary>
    private int LongestPartialMatch(string buffer)
    {
        int best = 0;
        foreach (var stop in _stops)
        {
            int maxLength = Math.Min(stop.Length - 1, buffer.Length);
            for (int length = maxLength; length > best; length--)
            {
                if (buffer.AsSpan(buffer.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    best = length;
                    break;
                }
            }
        }

        return best;
    }
}
