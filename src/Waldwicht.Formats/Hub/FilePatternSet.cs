namespace Waldwicht.Formats.Hub;

/// <summary>
/// Allow-list of repository files: exact names and glob patterns in which <c>*</c> matches any run of characters and
/// <c>?</c> one character, neither of them across a '/'. Matching is case-sensitive, as repository paths are.
/// </summary>
internal sealed class FilePatternSet
{
    private readonly string[] _patterns;

    public FilePatternSet(IEnumerable<string> patterns)
    {
        ArgumentNullException.ThrowIfNull(patterns);
        _patterns = patterns.ToArray();
        foreach (var pattern in _patterns)
        {
            if (string.IsNullOrWhiteSpace(pattern))
            {
                throw new ModelSourceException(
                    ModelSourceError.InvalidConfiguration,
                    "The file allow-list contains an empty pattern. Remove it, or give a file name such as config.json.");
            }
        }
    }

    /// <summary>Patterns without wildcards: files that are expected by name.</summary>
    public IEnumerable<string> ExactNames => _patterns.Where(pattern => pattern.IndexOfAny(['*', '?']) < 0);

    public bool Matches(string path) => _patterns.Any(pattern => GlobMatches(pattern, path));

    private static bool GlobMatches(string pattern, string path)
    {
        // Iterative wildcard matching with backtracking to the last '*'; O(pattern * path) in the worst case.
        int p = 0, s = 0, starPattern = -1, starPath = 0;
        while (s < path.Length)
        {
            if (p < pattern.Length && pattern[p] == '*')
            {
                starPattern = p++;
                starPath = s;
            }
            else if (p < pattern.Length && (pattern[p] == path[s] || (pattern[p] == '?' && path[s] != '/')))
            {
                p++;
                s++;
            }
            else if (starPattern >= 0 && path[starPath] != '/')
            {
                p = starPattern + 1;
                s = ++starPath;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}
