using System.Diagnostics;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;
using Waldwicht.Runtime;

namespace Waldwicht.LlamaCompare;

/// <summary>Measures this engine on one model folder, through the library, in the current process.</summary>
internal static class WaldwichtWorker
{
    public static BenchmarkResult Run(string modelFolder, WorkloadSettings settings, ActivationPrecision precision)
    {
        WorkerPool.Shared = new WorkerPool(settings.Threads);

        // Matrices take the default precision when the model creates them.
        QuantizedMatrix.DefaultActivationPrecision = precision;
        var load = Stopwatch.StartNew();
        using var model = Gemma4Model.Load(modelFolder);
        load.Stop();

        int vocab = model.Config.VocabSize;
        int[] prompt = settings.Prompt(vocab);
        var prefill = new List<double>();
        var decode = new List<double>();
        var firstToken = new List<double>();
        var logits = new float[vocab];
        for (int run = 0; run <= settings.Runs; run++)
        {
            var session = model.CreateSession(maxChunk: Math.Max(1, Math.Min(512, settings.PromptTokens)));
            var clock = Stopwatch.StartNew();
            session.Forward(prompt, logits);
            int next = ArgMax(logits);
            double ttft = clock.Elapsed.TotalSeconds;

            clock.Restart();
            for (int n = 1; n < settings.GeneratedTokens; n++)
            {
                session.Forward([next], logits);
                next = ArgMax(logits);
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

        long fileBytes = Directory.GetFiles(modelFolder, "*.safetensors").Sum(f => new FileInfo(f).Length);
        return new BenchmarkResult(
            "waldwicht", modelFolder, fileBytes, load.Elapsed.TotalSeconds,
            WorkloadSettings.Median(prefill), WorkloadSettings.Median(decode), WorkloadSettings.Median(firstToken),
            ProcessMemory.PeakResidentBytes(), settings.Runs, settings.Threads, ActivationPrecisionNames.Format(precision));
    }

    internal static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
        {
            if (values[i] > values[best])
            {
                best = i;
            }
        }

        return best;
    }
}
