using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Waldwicht.Model.Export;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.LlamaCompare;

/// <summary>
/// Benchmarks Waldwicht against llama.cpp on the same machine, thread count and weights. The
/// parent process prepares the model files and starts one worker process per engine and model,
/// so that each engine's peak RSS is measured alone.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        var source = new Option<string?>("--source") { Description = "BF16 Gemma 4 model folder that both engines' files are quantized from." };
        var synth = new Option<string?>("--synth") { Description = "Instead of --source: write (once) a synthetic BF16 checkpoint of this architecture into the work folder: tiny or e2b." };
        synth.AcceptOnlyFromAmong("tiny", "e2b");
        var work = new Option<string>("--work") { Description = "Folder for the quantized variants and GGUF files; existing files are reused.", DefaultValueFactory = _ => "bench-work" };
        var pairs = new Option<string>("--pairs") { Description = "Comma-separated pairs: q4 (MLX 4-bit g64 vs Q4_0), q5 (5-bit g64 vs Q5_0), winzling, sproessling (vs the GGUF type nearest in file size: Q4_0, Q4_1, Q5_0, Q5_1 or Q8_0).", DefaultValueFactory = _ => "q4,q5" };
        var threads = new Option<int>("--threads") { Description = "Threads for both engines.", DefaultValueFactory = _ => Environment.ProcessorCount };
        var promptTokens = new Option<int>("--prompt-tokens") { Description = "Prompt length in tokens (prefill).", DefaultValueFactory = _ => 128 };
        var genTokens = new Option<int>("--gen-tokens") { Description = "Tokens to generate per run (the first comes from the prefill).", DefaultValueFactory = _ => 32 };
        var runs = new Option<int>("--runs") { Description = "Measured runs per engine after one warm-up run; the table shows medians.", DefaultValueFactory = _ => 3 };
        var activations = new Option<string>("--activations") { Description = "Comma-separated activation precisions that Waldwicht runs with, one measurement each: f32, int32, int16, int8.", DefaultValueFactory = _ => "f32" };
        var worker = new Option<string?>("--worker") { Description = "Internal: run one engine in this process (waldwicht or llama.cpp).", Hidden = true };
        var model = new Option<string?>("--model") { Description = "Internal: the worker's model folder or GGUF file.", Hidden = true };

        var root = new RootCommand("Compare Waldwicht with llama.cpp (LLamaSharp) on prefill and decode speed, time to first token, peak RSS and file size.")
        {
            source, synth, work, pairs, threads, promptTokens, genTokens, runs, activations, worker, model,
        };
        root.SetAction(parse =>
        {
            var settings = new WorkloadSettings(parse.GetValue(threads), parse.GetValue(promptTokens), parse.GetValue(genTokens), parse.GetValue(runs));
            if (settings.Threads <= 0 || settings.PromptTokens <= 0 || settings.GeneratedTokens <= 0 || settings.Runs <= 0)
            {
                Console.Error.WriteLine("error: --threads, --prompt-tokens, --gen-tokens and --runs must be positive.");
                return 1;
            }

            if (!TryParsePrecisions(parse.GetValue(activations)!, out var precisions, out string? error))
            {
                Console.Error.WriteLine($"error: {error}");
                return 1;
            }

            if (parse.GetValue(worker) is string engine)
            {
                return RunWorker(engine, parse.GetValue(model) ?? "", settings, precisions[0]);
            }

            try
            {
                string workFolder = Path.GetFullPath(parse.GetValue(work)!);
                Directory.CreateDirectory(workFolder);
                string sourceFolder = ModelPreparation.EnsureSource(parse.GetValue(source), parse.GetValue(synth), workFolder, settings.Threads);
                var selected = parse.GetValue(pairs)!.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(PairDefinition.Parse).ToList();
                var rows = new List<(PreparedPair Pair, List<BenchmarkResult> Ours, BenchmarkResult Theirs)>();
                foreach (var pair in selected)
                {
                    var prepared = ModelPreparation.Prepare(pair, sourceFolder, workFolder, settings.Threads);
                    var ours = precisions.Select(p => RunChild("waldwicht", prepared.MlxFolder, settings, p)).ToList();
                    var theirs = RunChild("llama.cpp", prepared.GgufPath, settings, precisions[0]);
                    rows.Add((prepared, ours, theirs));
                }

                Console.WriteLine(FormatTable(rows, settings, sourceFolder));
                return 0;
            }
            catch (Exception ex) when (ex is IOException or ArgumentException or InvalidOperationException or Model.ModelFormatException)
            {
                Console.Error.WriteLine($"error: {ex.Message}");
                return 1;
            }
        });
        return root.Parse(args).Invoke();
    }

    private static int RunWorker(string engine, string model, WorkloadSettings settings, ActivationPrecision precision)
    {
        var result = engine switch
        {
            "waldwicht" => WaldwichtWorker.Run(model, settings, precision),
            "llama.cpp" => LlamaWorker.Run(model, settings),
            _ => throw new ArgumentException($"Unknown worker engine '{engine}'."),
        };
        Console.WriteLine(result.ToLine());
        return 0;
    }

    // Starts this program again as a worker, so that the peak RSS belongs to one engine and model.
    private static BenchmarkResult RunChild(string engine, string model, WorkloadSettings settings, ActivationPrecision precision)
    {
        string activationName = ActivationPrecisionNames.Format(precision);
        string what = engine == "waldwicht" ? $"{engine} ({activationName} activations)" : engine;
        Console.Error.WriteLine($"Measuring {what} on {model} …");
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("The path of this program is unknown.");
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
        {
            start.ArgumentList.Add(typeof(Program).Assembly.Location);
        }

        foreach (string argument in new[]
        {
            "--worker", engine, "--model", model,
            "--threads", settings.Threads.ToString(CultureInfo.InvariantCulture),
            "--prompt-tokens", settings.PromptTokens.ToString(CultureInfo.InvariantCulture),
            "--gen-tokens", settings.GeneratedTokens.ToString(CultureInfo.InvariantCulture),
            "--runs", settings.Runs.ToString(CultureInfo.InvariantCulture),
            "--activations", activationName,
        })
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start the {engine} worker.");
        BenchmarkResult? result = null;
        string? line;
        while ((line = process.StandardOutput.ReadLine()) != null)
        {
            result = BenchmarkResult.FromLine(line) ?? result;
        }

        process.WaitForExit();
        if (process.ExitCode != 0 || result == null)
        {
            throw new InvalidOperationException($"The {engine} worker on {model} failed with exit code {process.ExitCode}; its errors are above.");
        }

        return result;
    }

    private static string FormatTable(List<(PreparedPair Pair, List<BenchmarkResult> Ours, BenchmarkResult Theirs)> rows, WorkloadSettings settings, string source)
    {
        var text = new StringBuilder();
        text.AppendLine(string.Create(
            CultureInfo.InvariantCulture,
            $"Source {source}; {settings.Threads} thread(s), {settings.PromptTokens} prompt tokens, {settings.GeneratedTokens} generated tokens, median of {settings.Runs} run(s) after one warm-up."));
        text.AppendLine();
        text.AppendLine("| pair | engine | file | size (GB) | load (s) | prefill (tok/s) | decode (tok/s) | TTFT (s) | peak RSS (GB) |");
        text.AppendLine("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var (pair, results, theirs) in rows)
        {
            string label = $"{pair.Pair.Name} ({pair.Pair.Recipe} g64 vs {pair.GgufType.DisplayName()})";
            foreach (var ours in results)
            {
                AppendRow(text, label, ours);
            }

            AppendRow(text, label, theirs);
            foreach (var ours in results)
            {
                text.AppendLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"| {label} | ratio {EngineLabel(ours)} / llama.cpp | | {Ratio(ours.FileBytes, theirs.FileBytes)} | {Ratio(ours.LoadSeconds, theirs.LoadSeconds)} | {Ratio(ours.PrefillTokensPerSecond, theirs.PrefillTokensPerSecond)} | {Ratio(ours.DecodeTokensPerSecond, theirs.DecodeTokensPerSecond)} | {Ratio(ours.TimeToFirstTokenSeconds, theirs.TimeToFirstTokenSeconds)} | {Ratio(ours.PeakResidentBytes, theirs.PeakResidentBytes)} |"));
            }
        }

        return text.ToString();
    }

    private static void AppendRow(StringBuilder text, string label, BenchmarkResult result) =>
        text.AppendLine(string.Create(
            CultureInfo.InvariantCulture,
            $"| {label} | {EngineLabel(result)} | {Path.GetFileName(result.Model.TrimEnd('/'))} | {result.FileBytes / 1e9:0.000} | {result.LoadSeconds:0.00} | {result.PrefillTokensPerSecond:0.0} | {result.DecodeTokensPerSecond:0.0} | {result.TimeToFirstTokenSeconds:0.000} | {result.PeakResidentBytes / 1e9:0.000} |"));

    // Parses a comma-separated list of activation precision names into distinct precisions, in the order given.
    private static bool TryParsePrecisions(string text, out List<ActivationPrecision> precisions, out string? error)
    {
        precisions = [];
        error = null;
        foreach (string name in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!ActivationPrecisionNames.TryParse(name, out var precision))
            {
                error = $"--activations takes {ActivationPrecisionNames.Choices}, comma-separated; got '{name}'.";
                return false;
            }

            if (!precisions.Contains(precision))
            {
                precisions.Add(precision);
            }
        }

        if (precisions.Count == 0)
        {
            error = $"--activations needs at least one of {ActivationPrecisionNames.Choices}.";
            return false;
        }

        return true;
    }

    private static string EngineLabel(BenchmarkResult result) =>
        result.Activations is string activations ? $"{result.Engine} {activations}" : result.Engine;

    private static string Ratio(double ours, double theirs) =>
        theirs > 0 ? (ours / theirs).ToString("0.00", CultureInfo.InvariantCulture) + "×" : "-";
}
