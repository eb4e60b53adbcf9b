using System.Text;
using System.Text.Json;
using LLama;
using LLama.Common;
using LLama.Native;
using Waldwicht.Model.Export;
using Waldwicht.Model.Gemma4;
using Waldwicht.Tests;
using Xunit.Abstractions;

namespace Waldwicht.Gguf.Tests;

/// <summary>
/// Runs the same tokens through this engine and through llama.cpp (the build bundled with
/// LLamaSharp.Backend.Cpu 0.30.0) on an F32 GGUF export of a tiny model, and compares greedy
/// tokens and logits. Both engines are independent implementations of Gemma 4, so agreement
/// checks the export and both forward passes at once.
/// </summary>
/// <remarks>
/// llama.cpp's CPU GELU reads an F16 lookup table, which limits agreement to about 0.02 in the
/// logits with an F32 KV cache, so the test allows 0.05. Flash attention is off and the KV cache
/// is F32, because the default F16 cache and flash attention add up to about 0.1.
/// </remarks>
public sealed class LlamaCppAgreementTests(ITestOutputHelper output) : IDisposable
{
    private const int GeneratedTokens = 16;
    private const float MaxLogitDifference = 0.05f;

    private readonly string _folder = Directory.CreateTempSubdirectory("gguf-llama-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void DerivedTinyModel_MatchesLlamaCpp()
    {
        string modelFolder = DerivedTinyModel.Write(_folder);
        int[] prompt = ReadPrompt();
        string ggufPath = Path.Combine(_folder, "tiny-f32.gguf");
        Run ours;
        using (var model = Gemma4Model.Load(modelFolder))
        {
            var result = Gemma4GgufExporter.Export(model, ggufPath, new GgufExportOptions { Type = GgufExportType.F32 });
            Assert.DoesNotContain(result.Warnings, w => w.Contains("KV-shared", StringComparison.Ordinal));
            ours = RunWaldwicht(model, prompt);
        }

        var log = new StringBuilder();
        var llama = RunLlamaCpp(ggufPath, prompt, log);
        output.WriteLine($"greedy (waldwicht): {string.Join(",", ours.Tokens)}");
        output.WriteLine($"greedy (llama.cpp): {string.Join(",", llama.Tokens)}");

        Assert.Equal(ours.Logits.Count, llama.Logits.Count);
        float maxDifference = 0;
        int worstRow = 0;
        for (int row = 0; row < ours.Logits.Count; row++)
        {
            for (int i = 0; i < ours.Logits[row].Length; i++)
            {
                float difference = Math.Abs(ours.Logits[row][i] - llama.Logits[row][i]);
                if (difference > maxDifference)
                {
                    maxDifference = difference;
                    worstRow = row;
                }
            }
        }

        output.WriteLine($"max |logit difference| = {maxDifference:0.00000} (row {worstRow} of {ours.Logits.Count})");
        if (maxDifference >= MaxLogitDifference)
        {
            output.WriteLine(log.ToString());
        }

        Assert.Equal(ours.Tokens, llama.Tokens);
        Assert.True(maxDifference < MaxLogitDifference, $"max |logit difference| {maxDifference} at row {worstRow} exceeds {MaxLogitDifference}.");
    }

    [Theory]
    [InlineData(GgufExportType.F16)]
    [InlineData(GgufExportType.Q8_0)]
    [InlineData(GgufExportType.Q5_1)]
    [InlineData(GgufExportType.Q5_0)]
    [InlineData(GgufExportType.Q4_1)]
    [InlineData(GgufExportType.Q4_0)]
    public void Export_LoadsInLlamaCppWithDeclaredSizes(GgufExportType type)
    {
        // llama.cpp's model size is the sum of ggml_nbytes over its tensors, so equal byte and
        // parameter counts show that it read every type and shape as declared. Logits are only
        // checked for being finite here: llama.cpp also rounds activations (to F16 or Q8_0)
        // before its quantized products, and the random tiny model amplifies such noise.
        string modelFolder = DerivedTinyModel.Write(_folder);
        string ggufPath = Path.Combine(_folder, $"tiny-{type.DisplayName()}.gguf");
        GgufExportResult result;
        using (var model = Gemma4Model.Load(modelFolder))
        {
            result = Gemma4GgufExporter.Export(model, ggufPath, new GgufExportOptions { Type = type });
        }

        var llama = RunLlamaCpp(ggufPath, ReadPrompt(), new StringBuilder());

        Assert.Equal(result.Tensors.Sum(t => t.ByteLength), (long)llama.ModelBytes);
        Assert.Equal(result.Tensors.Sum(t => t.RowLength * t.RowCount), (long)llama.ModelParameters);
        Assert.All(llama.Logits, row => Assert.All(row, v => Assert.True(float.IsFinite(v))));
    }

    private static int[] ReadPrompt()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(TestData.Path("tiny-gemma4", "input.json")));
        return document.RootElement.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    // Logits of every prompt position, then of every generated token that was fed back; for
    // llama.cpp also the model size and parameter count it reports.
    private sealed record Run(List<int> Tokens, List<float[]> Logits, ulong ModelBytes = 0, ulong ModelParameters = 0);

    private static Run RunWaldwicht(Gemma4Model model, int[] prompt)
    {
        int vocab = model.Config.VocabSize;
        var session = model.CreateSession();
        var all = new float[prompt.Length * vocab];
        session.Forward(prompt, all, allPositions: true);
        var logits = Enumerable.Range(0, prompt.Length).Select(r => all.AsSpan(r * vocab, vocab).ToArray()).ToList();
        var tokens = new List<int>();
        var step = new float[vocab];
        for (int n = 0; n < GeneratedTokens; n++)
        {
            int next = ArgMax(logits[^1]);
            tokens.Add(next);
            if (n < GeneratedTokens - 1)
            {
                session.Forward([next], step);
                logits.Add(step.ToArray());
            }
        }

        return new Run(tokens, logits);
    }

    private static Run RunLlamaCpp(string ggufPath, int[] prompt, StringBuilder log)
    {
        NativeLogConfig.llama_log_set((level, message) => log.Append(message));
        var parameters = new ModelParams(ggufPath)
        {
            ContextSize = 64,
            BatchSize = 64,
            UBatchSize = 64,
            GpuLayerCount = 0,
            Threads = Math.Min(4, Environment.ProcessorCount),
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        using var weights = LLamaWeights.LoadFromFile(parameters);
        using var context = weights.CreateContext(parameters);
        int vocab = context.NativeHandle.ModelHandle.Vocab.Count;

        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Length; i++)
        {
            batch.Add(prompt[i], i, LLamaSeqId.Zero, true);
        }

        Decode(context, batch);
        var logits = Enumerable.Range(0, prompt.Length).Select(i => context.NativeHandle.GetLogitsIth(i)[..vocab].ToArray()).ToList();
        var tokens = new List<int>();
        for (int n = 0; n < GeneratedTokens; n++)
        {
            int next = ArgMax(logits[^1]);
            tokens.Add(next);
            if (n < GeneratedTokens - 1)
            {
                batch.Clear();
                batch.Add(next, prompt.Length + n, LLamaSeqId.Zero, true);
                Decode(context, batch);
                logits.Add(context.NativeHandle.GetLogitsIth(0)[..vocab].ToArray());
            }
        }

        return new Run(tokens, logits, weights.SizeInBytes, weights.ParameterCount);
    }

    private static void Decode(LLamaContext context, LLamaBatch batch)
    {
        var result = context.Decode(batch);
        if (result != DecodeResult.Ok)
        {
            throw new InvalidOperationException($"llama_decode returned {result}.");
        }
    }

    private static int ArgMax(ReadOnlySpan<float> values)
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
