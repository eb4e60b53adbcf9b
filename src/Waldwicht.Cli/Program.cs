using System.CommandLine;
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
        return await root.Parse(args).InvokeAsync();
    }
}
