using Waldwicht.Runtime.Generation;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Formats generation statistics the way mlx_lm.generate users know them.</summary>
internal static class StatsPrinter
{
    public static void Print(GenerationStats stats, TextWriter writer)
    {
        writer.WriteLine(
            $"Prompt: {stats.PromptTokens} tokens ({stats.CachedPromptTokens} cached), {stats.PromptTokensPerSecond:F1} tokens/s");
        writer.WriteLine($"Generation: {stats.GeneratedTokens} tokens, {stats.GenerationTokensPerSecond:F1} tokens/s");
        writer.WriteLine($"Time to first token: {stats.TimeToFirstTokenSeconds * 1000:F0} ms");
        if (stats.PeakResidentBytes > 0)
        {
            writer.WriteLine($"Peak memory: {stats.PeakResidentBytes / 1e9:F3} GB");
        }
    }

    public static string FinishReasonName(FinishReason reason) => reason switch
    {
        FinishReason.Stop => "stop",
        FinishReason.Length => "length",
        _ => "cancelled",
    };
}
