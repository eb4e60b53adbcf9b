using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Spectre.Console;
using Waldwicht.Cli.Infrastructure;
using Waldwicht.Evaluation.Throughput;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Cli.Commands;

/// <summary>`waldwicht bench`: prefill and decode throughput, memory and achieved bandwidth.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var model = CommonOptions.Model();
        var promptTokens = new Option<int>("--prompt-tokens", "-p")
        {
            Description = "Prompt tokens processed per run (random ids).",
            DefaultValueFactory = _ => 512,
        };
        var genTokens = new Option<int>("--gen-tokens", "-g")
        {
            Description = "Tokens generated per run (greedy, end tokens ignored).",
            DefaultValueFactory = _ => 128,
        };
        var runs = new Option<int>("--runs", "-r")
        {
            Description = "Timed runs, after warm-up runs that last at least one second; the report gives median and range.",
            DefaultValueFactory = _ => 3,
        };
        var chunk = new Option<int>("--chunk-size")
        {
            Description = "Prompt tokens per prefill step.",
            DefaultValueFactory = _ => 512,
        };
        var bandwidthOnly = new Option<bool>("--memory-bandwidth")
        {
            Description = "Only measure this machine's memory read bandwidth (multi-threaded streaming read) and exit.",
        };
        var bandwidth = new Option<double?>("--bandwidth-gbs")
        {
            Description = "Read bandwidth in GB/s to compare decode against, instead of measuring it.",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of tables." };
        var threads = CommonOptions.Threads();
        var activations = CommonOptions.Activations();

        var command = new Command("bench", "Measure prefill and decode speed, time to first token, peak memory and achieved memory bandwidth.")
        {
            model, promptTokens, genTokens, runs, chunk, threads, activations, bandwidthOnly, bandwidth, json,
        };
        command.SetAction((parse, cancellationToken) => CommandRunner.RunAsync(async () =>
        {
            int threadCount = KernelSettings.Apply(parse.GetValue(threads));
            KernelSettings.ApplyActivations(parse.GetValue(activations));
            bool asJson = parse.GetValue(json);
            if (parse.GetValue(bandwidthOnly))
            {
                var measured = MemoryBandwidth.Measure(threads: threadCount);
                if (asJson)
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(measured, JsonOptions));
                }
                else
                {
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"Memory read bandwidth: {measured.GigabytesPerSecond:F2} GB/s ({measured.Threads} threads, {measured.BufferBytes >> 20} MiB buffer, best of {measured.Passes} passes)"));
                }

                return 0;
            }

            var options = new ThroughputOptions
            {
                PromptTokens = parse.GetValue(promptTokens),
                GenerationTokens = parse.GetValue(genTokens),
                Runs = parse.GetValue(runs),
                ChunkSize = parse.GetValue(chunk),
            };
            try
            {
                options.Validate();
            }
            catch (ArgumentOutOfRangeException ex)
            {
                throw new CliException($"--{ex.ParamName}: must be positive (--gen-tokens at least 2); got {ex.ActualValue}.");
            }

            using var language = await ModelLoading.LoadAsync(parse.GetValue(model), cancellationToken);

            // The activation precision applies to quantized matrices only.
            bool quantized = language.Model.Weights.Matrices.Any(bound => bound.Matrix is QuantizedMatrix);
            string activationNames = ActivationPrecisionNames.Format(QuantizedMatrix.DefaultActivationPrecision);
            if (!asJson)
            {
                string activationsNote = quantized ? "" : " (unused: the model has no quantized matrices)";
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"Benchmarking {language.Name}: {options.PromptTokens} prompt tokens, {options.GenerationTokens} generated, {options.Runs} {(options.Runs == 1 ? "run" : "runs")}, {threadCount} {(threadCount == 1 ? "thread" : "threads")}, {activationNames} activations{activationsNote}."));
            }

            var report = ThroughputBenchmark.Run(language, options, threadCount, (index, run) =>
            {
                if (!asJson)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  run {index + 1}: prefill {run.PrefillTokensPerSecond:F1} tok/s, decode {run.DecodeTokensPerSecond:F2} tok/s, first token {run.TimeToFirstTokenSeconds * 1000:F0} ms"));
                }
            }, cancellationToken, (count, elapsed) =>
            {
                if (!asJson)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"  warm-up: {count} {(count == 1 ? "run" : "runs")} in {elapsed.TotalSeconds:F1} s"));
                }
            });

            // Measured after the runs, so that the 1 GiB test buffer does not count towards peak memory.
            BandwidthResult bandwidthResult;
            if (parse.GetValue(bandwidth) is double given)
            {
                bandwidthResult = new BandwidthResult(given, 0, threadCount, 0);
            }
            else
            {
                if (!asJson)
                {
                    Console.Error.WriteLine("Measuring memory read bandwidth...");
                }

                bandwidthResult = MemoryBandwidth.Measure(threads: threadCount);
            }

            report = report with { Bandwidth = bandwidthResult, Activations = quantized ? activationNames : null };

            if (asJson)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(report, JsonOptions));
            }
            else
            {
                PrintTable(report);
            }

            return 0;
        }));
        return command;
    }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    private static void PrintTable(ThroughputReport report)
    {
        string title = report.Activations is { } activations ? $"{report.Model}, {activations} activations" : report.Model;
        var table = new Table().Border(TableBorder.Rounded).Title($"[bold]{Markup.Escape(title)}[/]");
        table.AddColumn("figure");
        table.AddColumn("median", c => c.Alignment = Justify.Right);
        table.AddColumn("range", c => c.Alignment = Justify.Right);
        string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
        table.AddRow("prefill tokens/s", F(report.PrefillTokensPerSecond.Median, "F1"), $"{F(report.PrefillTokensPerSecond.Min, "F1")} - {F(report.PrefillTokensPerSecond.Max, "F1")}");
        table.AddRow("decode tokens/s", F(report.DecodeTokensPerSecond.Median, "F2"), $"{F(report.DecodeTokensPerSecond.Min, "F2")} - {F(report.DecodeTokensPerSecond.Max, "F2")}");
        table.AddRow("time to first token (ms)", F(report.TimeToFirstTokenSeconds.Median * 1000, "F0"), $"{F(report.TimeToFirstTokenSeconds.Min * 1000, "F0")} - {F(report.TimeToFirstTokenSeconds.Max * 1000, "F0")}");
        table.AddRow("model bytes", ModelReport.FormatBytes(report.ModelBytes), "");
        table.AddRow("weights read per token", ModelReport.FormatBytes(report.WeightBytesPerToken), "");
        table.AddRow("decode read rate (GB/s)", F(report.DecodeGigabytesPerSecond, "F2"), "");
        if (report.Bandwidth is { } bandwidth)
        {
            table.AddRow("machine read bandwidth (GB/s)", F(bandwidth.GigabytesPerSecond, "F2"), "");
            table.AddRow("share of bandwidth", report.BandwidthShare is double share ? F(share * 100, "F0") + " %" : "-", "");
        }

        table.AddRow("KV cache", ModelReport.FormatBytes(report.KvCacheBytes), "");
        table.AddRow("peak resident memory", ModelReport.FormatBytes(report.PeakResidentBytes), "");
        AnsiConsole.Write(table);
    }
}
