using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Spectre.Console;
using Waldwicht.Cli.Infrastructure;
using Waldwicht.Formats.Mlx;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.Recipes;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht quantize`: converts a BF16 Gemma 4 checkpoint into an MLX affine-quantized one.</summary>
internal static class QuantizeCommand
{
    internal static Command Create()
    {
        var model = new Option<string>("--model", "-m")
        {
            Description = "BF16 Gemma 4 checkpoint to quantize: a local folder (sharded or not) or a Hugging Face id (org/name, optionally @revision).",
            Required = true,
        };
        var recipe = new Option<string>("--recipe", "-r")
        {
            Description = "Bits per component: winzling (default 5, mlp 4, ple 3, gate 4, embed 3), sproessling (as winzling with mlp 5), "
                + "juengling (uniform 5), uniform-N (N = 2, 3, 4, 5, 6, 8), or entries such as default=4,attn=4,mlp=3@32,ple=2,gate=3,embed=2 "
                + "(components: default, attention/attn, mlp, ple_embeddings/ple, ple_gate_proj/gate, main_embed_lmhead/embed; @G sets the group size).",
            Required = true,
        };
        var output = new Option<string?>("--output", "-o")
        {
            Description = "Folder to create for the quantized model (required unless --plan). It appears only when the conversion succeeded.",
        };
        var groupSize = new Option<int?>("--group-size", "-g")
        {
            Description = "Group size (32, 64 or 128) of every component that sets none in the recipe (default: 64).",
        };
        var layout = new Option<string>("--layout")
        {
            Description = "Output layout: waldwicht (Hugging Face tensor names, 2 GiB shards, leaf-name overrides, as the published Waldwicht models) "
                + "or mlx-lm (mlx-lm module names, 5 GiB shards, full-path overrides, as mlx_lm.convert writes).",
            DefaultValueFactory = _ => "waldwicht",
        };
        layout.AcceptOnlyFromAmong("waldwicht", "mlx-lm");
        var scaleDtype = new Option<string>("--scale-dtype")
        {
            Description = "Storage type of scales and biases: f32 (4 bytes, as the Waldwicht exports) or bf16 (2 bytes, as mlx_lm.convert writes; 0.5 bit per weight less at group size 64).",
            DefaultValueFactory = _ => "f32",
        };
        scaleDtype.AcceptOnlyFromAmong("f32", "bf16");
        var rounding = new Option<string>("--rounding")
        {
            Description = "Quantizer rules to reproduce: gpu (MLX Metal/CUDA kernel: ties away from zero, group maximum at least 0; how the Waldwicht models were made) "
                + "or cpu (MLX CPU kernel: ties to even).",
            DefaultValueFactory = _ => "gpu",
        };
        rounding.AcceptOnlyFromAmong("gpu", "cpu");
        var textOnly = new Option<bool>("--text-only")
        {
            Description = "Drop the vision and audio towers instead of quantizing them with the default bits.",
        };
        var force = new Option<bool>("--force", "-f")
        {
            Description = "Replace an existing output folder (only after the new one is complete).",
        };
        var plan = new Option<bool>("--plan")
        {
            Description = "Only print the size of every component and of the output (reads the file headers only) and write nothing.",
        };
        var threads = new Option<int?>("--threads")
        {
            Description = "Worker threads for quantization (default: all processors).",
        };

        var command = new Command(
            "quantize",
            "Quantize a BF16 Gemma 4 checkpoint with MLX affine quantization, with bits and group size per component.")
        {
            model, recipe, output, groupSize, layout, scaleDtype, rounding, textOnly, force, plan, threads,
        };
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            int? threadCount = parse.GetValue(threads);
            if (threadCount is int count && count <= 0)
            {
                throw new CliException($"--threads must be positive; got {count}.");
            }

            var options = new QuantizeOptions
            {
                Recipe = QuantizationRecipe.Parse(parse.GetValue(recipe)!, parse.GetValue(groupSize)),
                Layout = parse.GetValue(layout) == "mlx-lm" ? CheckpointLayout.MlxLm : CheckpointLayout.Waldwicht,
                ScaleType = parse.GetValue(scaleDtype) == "bf16" ? ElementType.BF16 : ElementType.F32,
                Rounding = parse.GetValue(rounding) == "cpu" ? MlxQuantizerSemantics.Cpu : MlxQuantizerSemantics.Gpu,
                TextOnly = parse.GetValue(textOnly),
                Force = parse.GetValue(force),
                Threads = threadCount,
            };
            string? outputDirectory = parse.GetValue(output);
            bool planOnly = parse.GetValue(plan);
            if (outputDirectory is null && !planOnly)
            {
                throw new CliException("Option '--output' is required unless --plan is given.");
            }

            string source = await ModelResolution.ResolveAsync(parse.GetValue(model), cancellationToken);
            if (!planOnly)
            {
                CheckpointQuantizer.CheckOutputLocation(source, outputDirectory!, options.Force);
            }

            var quantizationPlan = QuantizationPlanner.Plan(source, options);
            if (planOnly)
            {
                PrintPlan(quantizationPlan);
                PrintWarnings(quantizationPlan.Warnings);
                return 0;
            }

            using var interrupt = new InterruptSource(cancellationToken);
            var stopwatch = Stopwatch.StartNew();
            var result = await RunWithProgressAsync(quantizationPlan, outputDirectory!, interrupt.Token);
            PrintWarnings(result.Warnings);
            Console.Error.WriteLine(string.Create(
                CultureInfo.InvariantCulture,
                $"Wrote {result.OutputDirectory}: {result.Plan.Shards.Count} safetensors file(s), {ModelCard.Gb(result.SafetensorsBytes)}, in {stopwatch.Elapsed.TotalSeconds:F1} s."));
            return 0;
        }));
        return command;
    }

    private static async Task<QuantizationResult> RunWithProgressAsync(QuantizationPlan plan, string outputDirectory, CancellationToken cancellationToken)
    {
        if (Console.IsErrorRedirected)
        {
            return await Task.Run(() => CheckpointQuantizer.Execute(plan, outputDirectory, null, cancellationToken), cancellationToken);
        }

        QuantizationResult? result = null;
        await AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) })
            .Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                var overall = context.AddTask("Quantizing", maxValue: 1);
                var tensor = context.AddTask("", maxValue: 1);
                var progress = new SynchronousProgress<QuantizationProgress>(p =>
                {
                    overall.MaxValue = Math.Max(1, p.Total);
                    overall.Value = p.Done;
                    overall.Description = $"Tensor {p.TensorNumber}/{p.TensorCount}";
                    tensor.MaxValue = Math.Max(1, p.TensorTotal);
                    tensor.Value = p.TensorDone;
                    tensor.Description = Markup.Escape(ShortName(p.Tensor));
                });
                result = await Task.Run(() => CheckpointQuantizer.Execute(plan, outputDirectory, progress, cancellationToken), cancellationToken);
            });
        return result!;
    }

    // A plain aligned table (78 columns), so that the plan reads the same in a terminal, a log or a pipe.
    private static void PrintPlan(QuantizationPlan plan)
    {
        var options = plan.Options;
        Console.WriteLine($"Source: {plan.Source.Directory} ({ModelCard.Gb(plan.Source.TensorBytes)} of tensors in {plan.Source.ShardPaths.Count} file(s))");
        Console.WriteLine(
            $"Recipe: {options.Recipe}; layout {(options.Layout == CheckpointLayout.MlxLm ? "mlx-lm" : "waldwicht")}, "
            + $"{(options.ScaleType == ElementType.F32 ? "F32" : "BF16")} scales and biases, {(options.Rounding == MlxQuantizerSemantics.Gpu ? "GPU" : "CPU")} rounding");
        Console.WriteLine();
        Console.WriteLine(PlanLine("Component", "Bits", "Group", "Tensors", "Parameters", "Output bytes", "GB"));
        foreach (var row in plan.Rows)
        {
            Console.WriteLine(PlanLine(
                row.Label,
                row.Parameters?.Bits.ToString(CultureInfo.InvariantCulture) ?? "-",
                row.Parameters?.GroupSize.ToString(CultureInfo.InvariantCulture) ?? "-",
                row.TensorCount.ToString(CultureInfo.InvariantCulture),
                row.ElementCount.ToString("N0", CultureInfo.InvariantCulture),
                row.OutputBytes.ToString("N0", CultureInfo.InvariantCulture),
                Gb(row.OutputBytes)));
        }

        long headers = plan.FileBytes - plan.TensorBytes;
        Console.WriteLine(PlanLine("headers", "", "", "", "", headers.ToString("N0", CultureInfo.InvariantCulture), Gb(headers)));
        Console.WriteLine(PlanLine("total", "", "", "", "", plan.FileBytes.ToString("N0", CultureInfo.InvariantCulture), Gb(plan.FileBytes)));
        Console.WriteLine();
        foreach (var shard in plan.Shards)
        {
            Console.WriteLine($"{shard.FileName}: {shard.Tensors.Count} tensors, {shard.FileBytes.ToString("N0", CultureInfo.InvariantCulture)} bytes");
        }
    }

    private static string PlanLine(string label, string bits, string group, string tensors, string parameters, string bytes, string gb) =>
        $"{label,-17}  {bits,4}  {group,5}  {tensors,7}  {parameters,13}  {bytes,13}  {gb,7}";

    private static string Gb(long bytes) => (bytes / 1e9).ToString("0.000", CultureInfo.InvariantCulture);

    private static void PrintWarnings(IEnumerable<string> warnings)
    {
        foreach (var warning in warnings)
        {
            Console.Error.WriteLine($"warning: {warning}");
        }
    }

    // Drops the common decoder prefix so that progress lines stay short.
    private static string ShortName(string tensor)
    {
        foreach (var prefix in new[] { "model.language_model.", "language_model.model." })
        {
            if (tensor.StartsWith(prefix, StringComparison.Ordinal))
            {
                return tensor[prefix.Length..];
            }
        }

        return tensor;
    }

    /// <summary>Calls the handler on the reporting thread (Spectre's tasks are thread-safe), unlike Progress&lt;T&gt;, which posts to the thread pool.</summary>
    private sealed class SynchronousProgress<T>(Action<T> handler) : IProgress<T>
    {
        public void Report(T value) => handler(value);
    }
}
