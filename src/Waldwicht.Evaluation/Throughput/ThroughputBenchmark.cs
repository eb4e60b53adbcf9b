using System.Diagnostics;
using System.Numerics.Tensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Runtime;

namespace Waldwicht.Evaluation.Throughput;

/// <summary>Settings of a throughput benchmark.</summary>
public sealed record ThroughputOptions
{
    /// <summary>Prompt tokens processed in the prefill phase of each run.</summary>
    public int PromptTokens { get; init; } = 512;

    /// <summary>Tokens generated per run (the first comes from the prefill logits).</summary>
    public int GenerationTokens { get; init; } = 128;

    /// <summary>Timed runs; shorter warm-up runs precede them.</summary>
    public int Runs { get; init; } = 3;

    /// <summary>
    /// Minimum time, in seconds, spent in warm-up runs: a short run, then full-size runs while time is left. On small models a
    /// run takes milliseconds, too short for the runtime to replace the unoptimized first code of the hot methods.
    /// </summary>
    public double WarmupSeconds { get; init; } = 1;

    /// <summary>Tokens per prefill step.</summary>
    public int ChunkSize { get; init; } = 512;

    /// <summary>Seed of the random prompt.</summary>
    public int Seed { get; init; } = 1;

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(PromptTokens, "prompt-tokens");
        ArgumentOutOfRangeException.ThrowIfLessThan(GenerationTokens, 2, "gen-tokens");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(Runs, "runs");
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ChunkSize, "chunk-size");
        ArgumentOutOfRangeException.ThrowIfNegative(WarmupSeconds, "warmup-seconds");
    }
}

/// <summary>Figures of one timed run.</summary>
/// <param name="PrefillTokensPerSecond">Prompt tokens processed per second.</param>
/// <param name="DecodeTokensPerSecond">Decode steps per second after the first generated token.</param>
/// <param name="TimeToFirstTokenSeconds">Prompt processing plus selection of the first token.</param>
public sealed record ThroughputRun(double PrefillTokensPerSecond, double DecodeTokensPerSecond, double TimeToFirstTokenSeconds);

/// <summary>Median and range of a figure over the runs.</summary>
public sealed record Spread(double Median, double Min, double Max)
{
    public static Spread Of(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        double median = sorted.Length % 2 == 1
            ? sorted[sorted.Length / 2]
            : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
        return new Spread(median, sorted[0], sorted[^1]);
    }
}

/// <summary>Summary of a benchmark over all runs.</summary>
public sealed record ThroughputReport
{
    public required string Model { get; init; }

    public required ThroughputOptions Options { get; init; }

    public required int Threads { get; init; }

    public required IReadOnlyList<ThroughputRun> Runs { get; init; }

    /// <summary>Warm-up runs before the timed runs.</summary>
    public required int WarmupRuns { get; init; }

    public required Spread PrefillTokensPerSecond { get; init; }

    public required Spread DecodeTokensPerSecond { get; init; }

    public required Spread TimeToFirstTokenSeconds { get; init; }

    /// <summary>Bytes of tensor data in the checkpoint files.</summary>
    public required long ModelBytes { get; init; }

    /// <summary>Weight bytes streamed per decoded token: every matrix, but only one row of gathered embedding tables.</summary>
    public required long WeightBytesPerToken { get; init; }

    /// <summary>Peak resident memory of the process at the end, in bytes.</summary>
    public required long PeakResidentBytes { get; init; }

    /// <summary>KV-cache bytes at the end of a run.</summary>
    public required long KvCacheBytes { get; init; }

    /// <summary>Weight bytes read per second while decoding (median decode rate times bytes per token), in GB/s.</summary>
    public double DecodeGigabytesPerSecond => WeightBytesPerToken * DecodeTokensPerSecond.Median / 1e9;

    /// <summary>
    /// Name of the activation precision of the quantized matrix-vector products (such as int32), when the caller
    /// sets it; null for a model without quantized matrices.
    /// </summary>
    public string? Activations { get; init; }

    /// <summary>Measured read bandwidth of the machine, when it was measured.</summary>
    public BandwidthResult? Bandwidth { get; init; }

    /// <summary>Decode read rate as a share of the measured bandwidth (0 to 1), or null.</summary>
    public double? BandwidthShare => Bandwidth is { GigabytesPerSecond: > 0 } b ? DecodeGigabytesPerSecond / b.GigabytesPerSecond : null;
}

/// <summary>
/// Measures prefill and decode speed of a model: warm-up runs, then timed runs that each process a
/// random prompt from an empty cache and decode greedily without stopping at end tokens.
/// </summary>
public static class ThroughputBenchmark
{
    /// <summary>
    /// Runs the benchmark; <paramref name="onWarmup"/> is called with the number and duration of the warm-up runs
    /// once they are done, and <paramref name="onRun"/> after each timed run.
    /// </summary>
    public static ThroughputReport Run(
        LanguageModel model,
        ThroughputOptions options,
        int threads,
        Action<int, ThroughputRun>? onRun = null,
        CancellationToken cancellationToken = default,
        Action<int, TimeSpan>? onWarmup = null)
    {
        options.Validate();
        var config = model.Model.Config;
        var random = new Random(options.Seed);
        var prompt = new int[options.PromptTokens];
        prompt[0] = config.BosTokenId;
        for (int i = 1; i < prompt.Length; i++)
        {
            // Ordinary vocabulary pieces: ids above the control and byte-fallback range.
            prompt[i] = random.Next(Math.Min(1000, config.VocabSize / 2), config.VocabSize);
        }

        var session = model.Model.CreateSession(options.ChunkSize);
        var logits = new float[config.VocabSize];

        // Warm-up: JIT, page-in of the weights, worker threads. A short run comes first, then full-size runs until
        // the warm-up time is over. On large models the short run alone takes longer than that.
        long warmupStart = Stopwatch.GetTimestamp();
        RunOnce(session, prompt.AsSpan(0, Math.Min(prompt.Length, 32)), 4, logits, cancellationToken);
        int warmupRuns = 1;
        while (Stopwatch.GetElapsedTime(warmupStart).TotalSeconds < options.WarmupSeconds)
        {
            RunOnce(session, prompt, options.GenerationTokens, logits, cancellationToken);
            warmupRuns++;
        }

        onWarmup?.Invoke(warmupRuns, Stopwatch.GetElapsedTime(warmupStart));

        var runs = new List<ThroughputRun>();
        long kvBytes = 0;
        for (int run = 0; run < options.Runs; run++)
        {
            var result = RunOnce(session, prompt, options.GenerationTokens, logits, cancellationToken);
            kvBytes = session.KvCacheBytes;
            runs.Add(result);
            onRun?.Invoke(run, result);
        }

        return new ThroughputReport
        {
            Model = model.Name,
            Options = options,
            Threads = threads,
            Runs = runs,
            WarmupRuns = warmupRuns,
            PrefillTokensPerSecond = Spread.Of(runs.Select(r => r.PrefillTokensPerSecond)),
            DecodeTokensPerSecond = Spread.Of(runs.Select(r => r.DecodeTokensPerSecond)),
            TimeToFirstTokenSeconds = Spread.Of(runs.Select(r => r.TimeToFirstTokenSeconds)),
            ModelBytes = model.Model.CheckpointBytes,
            WeightBytesPerToken = model.Model.WeightBytesPerToken,
            PeakResidentBytes = ProcessMemory.PeakResidentBytes(),
            KvCacheBytes = kvBytes,
        };
    }

    private static ThroughputRun RunOnce(Gemma4Session session, ReadOnlySpan<int> prompt, int generate, float[] logits, CancellationToken cancellationToken)
    {
        session.Reset();
        long start = Stopwatch.GetTimestamp();
        session.Forward(prompt, logits);
        double prefill = Stopwatch.GetElapsedTime(start).TotalSeconds;
        int token = TensorPrimitives.IndexOfMax(logits);
        double firstToken = Stopwatch.GetElapsedTime(start).TotalSeconds;

        long decodeStart = Stopwatch.GetTimestamp();
        for (int step = 1; step < generate; step++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            session.Forward([token], logits);
            token = TensorPrimitives.IndexOfMax(logits);
        }

        double decode = Stopwatch.GetElapsedTime(decodeStart).TotalSeconds;
        return new ThroughputRun(prompt.Length / prefill, (generate - 1) / decode, firstToken);
    }
}
