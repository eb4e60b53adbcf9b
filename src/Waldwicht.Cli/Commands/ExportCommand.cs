using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Spectre.Console;
using Waldwicht.Cli.Infrastructure;
using Waldwicht.Formats.Gguf;
using Waldwicht.Model.Export;
using Waldwicht.Model.Gemma4;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht export`: writes a model in another runtime's file format (GGUF for llama.cpp).</summary>
internal static class ExportCommand
{
    internal static Command Create()
    {
        var command = new Command("export", "Write a model in another runtime's file format.");
        command.Subcommands.Add(CreateGguf());
        return command;
    }

    private static Command CreateGguf()
    {
        var model = new Option<string>("--model", "-m")
        {
            Description = "Gemma 4 model to export: a local folder (BF16 or MLX-quantized) or a Hugging Face id (org/name, optionally @revision).",
            Required = true,
        };
        var type = new Option<string>("--type", "-t")
        {
            Description = "Storage type of the weight matrices: f32, f16, q8_0, q5_1, q5_0, q4_1 or q4_0 (GGML block formats with 32 weights per block; "
                + "the _1 types also store each block's minimum, so MLX matrices of up to 4 bits keep their codes in q4_1, and of up to 5 bits in q5_1). "
                + "Norms, the layer scalars and rope_freqs stay F32, and matrices whose row length is not a multiple of 32 fall back to F16. "
                + "Names are case-insensitive (Q4_0 = q4_0).",
            DefaultValueFactory = _ => "f16",
            HelpName = string.Join("|", GgufExportTypeExtensions.Names),
        };
        type.CompletionSources.Add([.. GgufExportTypeExtensions.Names]);
        type.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string>();
            if (value is not null && !GgufExportTypeExtensions.Names.Contains(value.ToLowerInvariant()))
            {
                result.AddError($"--type must be {GgufExportTypeExtensions.Choices}; got '{value}'.");
            }
        });
        var output = new Option<string>("--output", "-o")
        {
            Description = "GGUF file to write. It appears only when the export succeeded.",
            Required = true,
        };
        var force = new Option<bool>("--force", "-f")
        {
            Description = "Replace an existing output file (only after the new one is complete).",
        };
        var name = new Option<string?>("--name")
        {
            Description = "Model name stored as general.name (default: the model folder's name).",
        };
        var threads = new Option<int?>("--threads")
        {
            Description = "Threads that dequantize and re-encode rows in parallel (default: all processors).",
        };

        var command = new Command(
            "gguf",
            "Export a Gemma 4 model as a GGUF v3 file for llama.cpp's gemma4 architecture. MLX weights are dequantized and re-encoded in a GGML type, "
            + "except that q4_1 and q5_1 keep the MLX codes that fit them.")
        {
            model, type, output, force, name, threads,
        };
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            int? threadCount = parse.GetValue(threads);
            if (threadCount is int count && count <= 0)
            {
                throw new CliException($"--threads must be positive; got {count}.");
            }

            var options = new GgufExportOptions
            {
                Type = GgufExportTypeExtensions.Parse(parse.GetValue(type)!),
                Force = parse.GetValue(force),
                Name = parse.GetValue(name),
                Threads = threadCount,
            };
            string outputPath = parse.GetValue(output)!;
            Gemma4GgufExporter.CheckOutputLocation(outputPath, options.Force);
            string folder = await ModelResolution.ResolveAsync(parse.GetValue(model), cancellationToken);
            using var loaded = Gemma4Model.Load(folder);

            var stopwatch = Stopwatch.StartNew();
            // Ctrl+C or SIGTERM cancels the export, which then deletes its temporary file before the process ends.
            using var interrupt = new InterruptSource(cancellationToken);
            var result = await RunWithProgressAsync(loaded, outputPath, options, interrupt.Token);
            foreach (var warning in result.Warnings)
            {
                Console.Error.WriteLine($"warning: {warning}");
            }

            var types = result.Tensors
                .GroupBy(t => t.Type)
                .OrderBy(g => g.Key)
                .Select(g => $"{g.Count()} {g.Key.DisplayName()}");
            Console.Error.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"Wrote {result.Path}: {result.Tensors.Count} tensors ({string.Join(", ", types)}), {ModelReport.FormatBytes(result.FileBytes)}, in {stopwatch.Elapsed.TotalSeconds:F1} s."));
            if (result.TensorsWithKeptCodes.Count > 0)
            {
                Console.Error.WriteLine(
                    $"{result.TensorsWithKeptCodes.Count} quantized tensor(s) kept their MLX codes; only their scales and biases were rounded to F16.");
            }

            return 0;
        }));
        return command;
    }

    private static async Task<GgufExportResult> RunWithProgressAsync(
        Gemma4Model model, string outputPath, GgufExportOptions options, CancellationToken cancellationToken)
    {
        if (Console.IsErrorRedirected)
        {
            return await Task.Run(() => Gemma4GgufExporter.Export(model, outputPath, options, null, cancellationToken), cancellationToken);
        }

        GgufExportResult? result = null;
        await AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
            .Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var task = context.AddTask("Exporting", maxValue: 1);
                var progress = new SynchronousProgress<GgufExportProgress>(p =>
                {
                    task.MaxValue = Math.Max(1, p.BytesTotal);
                    task.Value = p.BytesDone;
                    task.Description = Markup.Escape($"{p.TensorNumber}/{p.TensorCount} {p.Tensor}");
                });
                result = await Task.Run(() => Gemma4GgufExporter.Export(model, outputPath, options, progress, cancellationToken), cancellationToken);
            });
        return result!;
    }

    /// <summary>Calls the handler on the reporting thread (Spectre's tasks are thread-safe), unlike Progress&lt;T&gt;, which posts to the thread pool.</summary>
    private sealed class SynchronousProgress<T>(Action<T> handler) : IProgress<T>
    {
        public void Report(T value) => handler(value);
    }
}
