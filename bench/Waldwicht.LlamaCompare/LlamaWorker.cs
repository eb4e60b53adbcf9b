using System.Diagnostics;
using LLama;
using LLama.Common;
using LLama.Native;
using Waldwicht.Runtime;

namespace Waldwicht.LlamaCompare;

/// <summary>
/// Measures llama.cpp (the CPU build bundled with LLamaSharp.Backend.Cpu) on one GGUF file in the
/// current process, with llama.cpp's default context settings (F16 KV cache, flash attention
/// chosen by llama.cpp) and the whole prompt in one batch.
/// </summary>
internal static class LlamaWorker
{
    public static BenchmarkResult Run(string ggufPath, WorkloadSettings settings)
    {
        NativeLogConfig.llama_log_set((level, message) =>
        {
            if (level >= LLamaLogLevel.Error)
            {
                Console.Error.Write(message);
            }
        });
        uint batch = (uint)Math.Max(1, settings.PromptTokens);
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = (uint)(settings.PromptTokens + settings.GeneratedTokens + 16),
            BatchSize = batch,
            UBatchSize = Math.Min(batch, 512u),
            GpuLayerCount = 0,
            Threads = settings.Threads,
            BatchThreads = settings.Threads,
        };

        var load = Stopwatch.StartNew();
        using var weights = LLamaWeights.LoadFromFile(parameters);
        load.Stop();

        int vocab = weights.Vocab.Count;
        int[] prompt = settings.Prompt(vocab);
        var prefill = new List<double>();
        var decode = new List<double>();
        var firstToken = new List<double>();
        var tokens = new LLamaBatch();
        for (int run = 0; run <= settings.Runs; run++)
        {
            using var context = weights.CreateContext(parameters);
            tokens.Clear();
            for (int i = 0; i < prompt.Length; i++)
            {
                tokens.Add(prompt[i], i, LLamaSeqId.Zero, i == prompt.Length - 1);
            }

            var clock = Stopwatch.StartNew();
            Decode(context, tokens);
            int next = WaldwichtWorker.ArgMax(context.NativeHandle.GetLogitsIth(prompt.Length - 1)[..vocab]);
            double ttft = clock.Elapsed.TotalSeconds;

            clock.Restart();
            for (int n = 1; n < settings.GeneratedTokens; n++)
            {
                tokens.Clear();
                tokens.Add(next, prompt.Length + n - 1, LLamaSeqId.Zero, true);
                Decode(context, tokens);
                next = WaldwichtWorker.ArgMax(context.NativeHandle.GetLogitsIth(0)[..vocab]);
            }

            double decodeSeconds = clock.Elapsed.TotalSeconds;
            if (run == 0)
            {
                continue;
            }

            firstToken.Add(ttft);
            prefill.Add(prompt.Length / ttft);
            decode.Add(decodeSeconds > 0 ? (settings.GeneratedTokens - 1) / decodeSeconds : 0);
        }

        return new BenchmarkResult(
            "llama.cpp", ggufPath, new FileInfo(ggufPath).Length, load.Elapsed.TotalSeconds,
            WorkloadSettings.Median(prefill), WorkloadSettings.Median(decode), WorkloadSettings.Median(firstToken),
            ProcessMemory.PeakResidentBytes(), settings.Runs, settings.Threads);
    }

    private static void Decode(LLamaContext context, LLamaBatch batch)
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException($"llama_decode returned {result}.");
        }
    }
}
