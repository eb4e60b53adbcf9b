namespace Waldwicht.Cli.Infrastructure;

/// <summary>Parses comma-separated token id lists such as "2,17,305".</summary>
internal static class TokenListParser
{
    /// <summary>Parses the list and checks every id against the vocabulary size.</summary>
    /// <exception cref="CliException">The list is empty, malformed or has an id out of range.</exception>
    public static int[] Parse(string text, string optionName, int vocabSize)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length == 0)
        {
            throw new CliException($"{optionName} is empty; give comma-separated token ids such as 2,17,305.");
        }

        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
        {
            if (!int.TryParse(parts[i], out ids[i]))
            {
                throw new CliException($"{optionName}: '{parts[i]}' is not an integer token id.");
            }

            if (ids[i] < 0 || ids[i] >= vocabSize)
            {
                throw new CliException($"{optionName}: token id {ids[i]} is out of range; the vocabulary has ids 0 to {vocabSize - 1}.");
            }
        }

        return ids;
    }
}
