using System.CommandLine;
using Waldwicht.Cli.Infrastructure;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht logits`: one forward pass over given token ids, logits written as safetensors.</summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var tokens = new Option<string>("--tokens", "-t")
        {
            Description = "Comma-separated token ids to run through the model, for example 2,17,305.",
            Required = true,
        };
        var output = new Option<string>("--output", "-o")
        {
            Description = "Safetensors file to write: one F32 tensor 'logits' of shape [tokens, vocab] (soft-capped).",
            Required = true,
        };
        var chunk = new Option<int>("--chunk-size")
        {
            Description = "Tokens per forward step. With f32 or int32 activations every size gives the same logits to float "
                + "rounding. int16 and int8 change only steps of up to 3 tokens, because longer steps use float "
                + "products (use --chunk-size 1 to see their effect on decoding).",
            DefaultValueFactory = _ => 256,
        };
        var threads = CommonOptions.Threads();
        var activations = CommonOptions.Activations();

        var command = new Command("logits", "Compute the logits of every position of a token sequence and save them.")
        {
            model, tokens, output, chunk, threads, activations,
        };
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            KernelSettings.Apply(parse.GetValue(threads));
            KernelSettings.ApplyActivations(parse.GetValue(activations));
            int chunkSize = parse.GetValue(chunk);
            if (chunkSize <= 0)
            {
                throw new CliException($"--chunk-size must be positive; got {chunkSize}.");
            }

            using var interrupt = new InterruptSource(cancellationToken);
            string folder = await ModelResolution.ResolveAsync(parse.GetValue(model), interrupt.Token);
            using var loaded = Gemma4Model.Load(folder);
            int vocab = loaded.Config.VocabSize;
            int[] ids = TokenListParser.Parse(parse.GetValue(tokens)!, "--tokens", vocab);
            var logits = new float[(long)ids.Length * vocab];
            loaded.CreateSession(chunkSize).Forward(ids, logits, allPositions: true);

            string path = Path.GetFullPath(parse.GetValue(output)!);
            string? directory = Path.GetDirectoryName(path);
            if (directory != null && !Directory.Exists(directory))
            {
                throw new CliException($"Output folder not found: {directory}");
            }

            using (var writer = SafetensorsWriter.Create(path, [new TensorDeclaration("logits", SafetensorsDType.F32, [ids.Length, vocab])]))
            {
                writer.Write<float>("logits", logits);
                writer.Complete();
            }

            Console.Error.WriteLine($"Wrote logits [{ids.Length}, {vocab}] to {path}");
            return 0;
        }));
        return command;
    }
}
