using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using Waldwicht.Cli.Commands;

namespace Waldwicht.Cli;

internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        var root = new RootCommand(
            "Waldwicht: run, quantize and serve Gemma 4 models with mixed-precision MLX quantization on the CPU.");
        root.Subcommands.Add(GenerateCommand.Create());
        root.Subcommands.Add(ChatCommand.Create());
        root.Subcommands.Add(LogitsCommand.Create());
        root.Subcommands.Add(InspectCommand.Create());
        root.Subcommands.Add(ServeCommand.Create());
        root.Subcommands.Add(QuantizeCommand.Create());
        root.Subcommands.Add(SynthCommand.Create());
        root.Subcommands.Add(BenchCommand.Create());
        root.Subcommands.Add(ExportCommand.Create());
        var parse = root.Parse(args);
        bool usageHint = false;
        if (parse.Action is ParseErrorAction errorAction && args.Length > 0)
        {
            // Print the errors and a pointer to --help, because the whole help text would bury the line that matters.
            // The library's own typo corrections go to standard output and also guess options for option values
            // (for 0.5 after a misspelled option), so only misspelled option names get a suggestion, below.
            errorAction.ShowHelp = false;
            errorAction.ShowTypoCorrections = false;
            usageHint = true;
        }

        int exitCode = await parse.InvokeAsync();
        if (usageHint)
        {
            foreach (string token in parse.UnmatchedTokens.Where(token => token.StartsWith('-')))
            {
                if (ClosestOption(parse.CommandResult.Command, token) is { } suggestion)
                {
                    Console.Error.WriteLine($"Did you mean '{suggestion}' instead of '{token}'?");
                }
            }

            Console.Error.WriteLine($"Run '{CommandPath(parse.CommandResult)} --help' for usage.");
        }

        return exitCode;
    }

    // Returns the option name or alias of the command nearest to a misspelled token, or null when none is within
    // an edit distance of a third of the token's length (at least 1).
    private static string? ClosestOption(Command command, string token)
    {
        var names = command.Options.SelectMany(option => option.Aliases.Prepend(option.Name));
        int limit = Math.Max(1, token.Length / 3);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string name in names)
        {
            int distance = EditDistance(token, name);
            if (distance < bestDistance && distance <= limit)
            {
                best = name;
                bestDistance = distance;
            }
        }

        return best;
    }

    // Levenshtein distance: insertions, deletions and substitutions of one character each cost 1.
    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j], current[j - 1]) + 1);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    // Returns the words that run the innermost recognized command, such as "waldwicht export gguf".
    private static string CommandPath(CommandResult command)
    {
        var names = new List<string>();
        for (SymbolResult? result = command; result is not null; result = result.Parent)
        {
            if (result is CommandResult { Command: not RootCommand } named)
            {
                names.Insert(0, named.Command.Name);
            }
        }

        names.Insert(0, "waldwicht");
        return string.Join(' ', names);
    }
}
