using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Waldwicht.Cli.Infrastructure;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.Synthetic;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht synth`: writes a random-weight BF16 Gemma 4 checkpoint with the real layout.</summary>
internal static class SynthCommand
{
    internal static Command Create()
    {
        var config = new Option<string>("--config", "-c")
        {
            Description = "Architecture: tiny (10 layers, hidden size 64, 1.5 MB), e2b (Gemma 4 E2B text decoder, 9.3 GB) or e4b (Gemma 4 E4B text decoder).",
            Required = true,
        };
        config.AcceptOnlyFromAmong("tiny", "e2b", "e4b");
        var output = new Option<string>("--output", "-o")
        {
            Description = "Folder to create. It appears only when the checkpoint is complete.",
            Required = true,
        };
        var seed = new Option<int>("--seed", "-s")
        {
            Description = "Seed of the random weights; the same seed always gives the same bytes.",
            DefaultValueFactory = _ => 0,
        };
        var force = new Option<bool>("--force", "-f")
        {
            Description = "Replace an existing output folder (only after the new one is complete).",
        };
        var tokenizer = new Option<string?>("--tokenizer")
        {
            Description = "Full Gemma 4 tokenizer.json (or a folder that contains one) for e2b and e4b. "
                + "Default: .cache/gemma4-tokenizer/tokenizer.json in the current folder or above, else the 512-piece test tokenizer.",
        };
        var threads = new Option<int?>("--threads")
        {
            Description = "Worker threads that generate the weights (default: all processors).",
        };

        var command = new Command(
            "synth",
            "Write a synthetic BF16 Gemma 4 checkpoint with the real tensor names, shapes and config.json. "
            + "The weights are random, so the model produces meaningless text: use it to test conversion, loading and speed.")
        {
            config, output, seed, force, tokenizer, threads,
        };
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            int? threadCount = parse.GetValue(threads);
            if (threadCount is int count && count <= 0)
            {
                throw new CliException($"--threads must be positive; got {count}.");
            }

            var preset = SyntheticPreset.Parse(parse.GetValue(config)!);
            var options = new SyntheticOptions
            {
                Seed = parse.GetValue(seed),
                Force = parse.GetValue(force),
                TokenizerPath = parse.GetValue(tokenizer),
                Threads = threadCount,
            };
            string outputDirectory = parse.GetValue(output)!;
            using var interrupt = new InterruptSource(cancellationToken);
            var stopwatch = Stopwatch.StartNew();
            var result = await RunWithProgressAsync(preset, outputDirectory, options, interrupt.Token);
            foreach (var warning in result.Warnings)
            {
                Console.Error.WriteLine($"warning: {warning}");
            }

            Console.Error.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"Wrote {result.OutputDirectory}: random {preset.Name} weights (seed {options.Seed}), {ModelCard.Gb(result.TensorBytes)}, tokenizer: {result.TokenizerSource}, in {stopwatch.Elapsed.TotalSeconds:F1} s."));
            return 0;
        }));
        return command;
    }

    private static async Task<SyntheticResult> RunWithProgressAsync(
        SyntheticPreset preset, string outputDirectory, SyntheticOptions options, CancellationToken cancellationToken)
    {
        if (Console.IsErrorRedirected)
        {
            return await Task.Run(() => SyntheticCheckpoint.Write(preset, outputDirectory, options, null, cancellationToken), cancellationToken);
        }

        SyntheticResult? result = null;
        await AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
            .Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask($"Writing {preset.Name}", maxValue: 1);
                var progress = new SynchronousProgress(p =>
                {
                    task.MaxValue = Math.Max(1, p.Total);
                    task.Value = p.Done;
                });
                result = await Task.Run(() => SyntheticCheckpoint.Write(preset, outputDirectory, options, progress, cancellationToken), cancellationToken);
            });
        return result!;
    }

    private sealed class SynchronousProgress(Action<SyntheticProgress> handler) : IProgress<SyntheticProgress>
    {
        public void Report(SyntheticProgress value) => handler(value);
    }
}
