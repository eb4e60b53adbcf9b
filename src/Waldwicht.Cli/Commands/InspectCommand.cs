using System.CommandLine;
using Waldwicht.Cli.Infrastructure;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht inspect`: architecture and per-component quantization of a model.</summary>
internal static class InspectCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var command = new Command("inspect", "Show a model's architecture and, per component, bits, group size, parameters and bytes.")
        {
            model,
        };
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            string folder = await ModelResolution.ResolveAsync(parse.GetValue(model), cancellationToken);
            ModelReport.Print(folder);
            return 0;
        }));
        return command;
    }
}
