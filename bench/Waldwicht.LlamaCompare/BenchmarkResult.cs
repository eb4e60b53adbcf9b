using System.Text.Json;

namespace Waldwicht.LlamaCompare;

/// <summary>Measurements of one engine on one model file, as a worker process reports them.</summary>
/// <param name="Engine">"waldwicht" or "llama.cpp".</param>
/// <param name="Model">The model folder or GGUF file.</param>
/// <param name="FileBytes">Bytes of weight files on disk.</param>
/// <param name="LoadSeconds">Time to open the model, before the first run.</param>
/// <param name="PrefillTokensPerSecond">Median prompt tokens per second.</param>
/// <param name="DecodeTokensPerSecond">Median generated tokens per second, after the first token.</param>
/// <param name="TimeToFirstTokenSeconds">Median time from the start of the prompt to the first sampled token.</param>
/// <param name="PeakResidentBytes">Peak resident set size of the worker process, loading included.</param>
/// <param name="Runs">Measured runs (after one warm-up run).</param>
/// <param name="Threads">Threads the engine used.</param>
/// <param name="Activations">Waldwicht's activation precision (f32, int32, int16 or int8), or null for llama.cpp.</param>
internal sealed record BenchmarkResult(
    string Engine,
    string Model,
    long FileBytes,
    double LoadSeconds,
    double PrefillTokensPerSecond,
    double DecodeTokensPerSecond,
    double TimeToFirstTokenSeconds,
    long PeakResidentBytes,
    int Runs,
    int Threads,
    string? Activations = null)
{
    /// <summary>Prefix of the line that carries the JSON result in a worker's output.</summary>
    public const string LinePrefix = "RESULT ";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public string ToLine() => LinePrefix + JsonSerializer.Serialize(this, Json);

    public static BenchmarkResult? FromLine(string line) =>
        line.StartsWith(LinePrefix, StringComparison.Ordinal)
            ? JsonSerializer.Deserialize<BenchmarkResult>(line[LinePrefix.Length..], Json)
            : null;
}

/// <summary>Settings that both workers of a pair share.</summary>
internal sealed record WorkloadSettings(int Threads, int PromptTokens, int GeneratedTokens, int Runs)
{
    /// <summary>
    /// The prompt: BOS followed by pseudo-random ids from the upper half of the vocabulary, so the
    /// same ids reach both engines and no control token appears.
    /// </summary>
    public int[] Prompt(int vocabularySize)
    {
        var random = new Random(20260401);
        var ids = new int[PromptTokens];
        ids[0] = 2;
        for (int i = 1; i < ids.Length; i++)
        {
            ids[i] = random.Next(vocabularySize / 2, vocabularySize);
        }

        return ids;
    }

    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }
}
