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
            errorAction.ShowHelp = false;
            usageHint = true;
        }

        int exitCode = await parse.InvokeAsync();
        if (usageHint)
        {
            Console.Error.WriteLine($"Run '{CommandPath(parse.CommandResult)} --help' for usage.");
        }

        return exitCode;
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
