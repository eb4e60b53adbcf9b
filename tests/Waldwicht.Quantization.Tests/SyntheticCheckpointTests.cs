using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.Recipes;
using Waldwicht.Quantization.Synthetic;
using Waldwicht.Tests;

namespace Waldwicht.Quantization.Tests;

public sealed class SyntheticCheckpointTests
{
    [Fact]
    public void TinyMatchesCommittedLayout()
    {
        using var folder = new TemporaryFolder();
        var result = SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder.Combine("tiny"), seed: 1);

        using var expected = SafetensorsFile.Open(TestData.Path("tiny-gemma4", "model.safetensors"));
        using var actual = SafetensorsFile.Open(Path.Combine(result.OutputDirectory, "model.safetensors"));
        Assert.Equal(expected.Tensors.Select(t => (t.Name, t.DType, string.Join(",", t.Shape))), actual.Tensors.Select(t => (t.Name, t.DType, string.Join(",", t.Shape))));
        Assert.Equal(expected.Metadata, actual.Metadata);
        Assert.Equal(739_290, actual.Tensors.Sum(t => t.ElementCount));

        var expectedConfig = JsonNode.Parse(File.ReadAllText(TestData.Path("tiny-gemma4", "config.json")));
        var actualConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(result.OutputDirectory, "config.json")));
        Assert.True(JsonNode.DeepEquals(expectedConfig, actualConfig), "config.json must equal the committed tiny config");
        Assert.Equal(["README.md", "config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"], result.Files);
        Assert.Equal(File.ReadAllBytes(TestData.Path("tiny-gemma4", "tokenizer.json")), File.ReadAllBytes(Path.Combine(result.OutputDirectory, "tokenizer.json")));
        Assert.Equal(SyntheticCheckpoint.BuiltInTokenizer, result.TokenizerSource);
        Assert.Empty(result.Warnings);
    }

    [Fact]
    public void SameSeedGivesSameBytes()
    {
        using var folder = new TemporaryFolder();
        SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder.Combine("a"), new SyntheticOptions { Seed = 7, Threads = 1 });
        SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder.Combine("b"), new SyntheticOptions { Seed = 7, Threads = 3 });
        SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder.Combine("c"), new SyntheticOptions { Seed = 8 });

        foreach (var name in Directory.GetFiles(folder.Combine("a")).Select(Path.GetFileName))
        {
            Assert.Equal(File.ReadAllBytes(folder.Combine("a", name!)), File.ReadAllBytes(folder.Combine("b", name!)));
        }

        Assert.NotEqual(File.ReadAllBytes(folder.Combine("a", "model.safetensors")), File.ReadAllBytes(folder.Combine("c", "model.safetensors")));
    }

    [Fact]
    public void TinyLoadsAndRunsAfterQuantization()
    {
        using var folder = new TemporaryFolder();
        var synthetic = SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder.Combine("bf16"), seed: 3);
        var quantized = CheckpointQuantizer.Quantize(
            synthetic.OutputDirectory, folder.Combine("q"), new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling", 32) });

        float[] reference = Logits(synthetic.OutputDirectory);
        float[] logits = Logits(quantized.OutputDirectory);

        Assert.All(reference, v => Assert.True(float.IsFinite(v)));
        Assert.True(reference.Max() - reference.Min() > 0.1f, "random weights should give varied logits");
        float worst = reference.Zip(logits, (a, b) => MathF.Abs(a - b)).Max();
        Assert.InRange(worst, 1e-4f, 5f);
    }

    [Fact]
    public void WeightStatisticsResembleTrainedModel()
    {
        using var folder = new TemporaryFolder();
        var result = SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder.Combine("tiny"), seed: 5);
        using var file = SafetensorsFile.Open(Path.Combine(result.OutputDirectory, "model.safetensors"));
        float[] Values(string name) => file.GetSpan<ushort>(SyntheticPreset.TensorPrefix + name).ToArray().Select(BFloat16.ToSingle).ToArray();

        var scalars = Enumerable.Range(0, 10).Select(i => Values($"layers.{i}.layer_scalar")[0]).ToList();
        Assert.All(scalars, s => Assert.InRange(s, 0.19f, 0.81f));
        Assert.True(scalars.Distinct().Count() > 5, "layer scalars differ between layers");

        var norm = Values("layers.0.input_layernorm.weight");
        Assert.All(norm, v => Assert.True(v > 0));
        Assert.InRange(norm.Average(), 0.5f, 1.5f);

        // Matrices: zero mean, standard deviation near gain / sqrt(columns), heavier tails than a normal distribution.
        var down = Values("layers.6.mlp.down_proj.weight");
        double mean = down.Average();
        double deviation = Math.Sqrt(down.Average(v => (v - mean) * (v - mean)));
        Assert.InRange(Math.Abs(mean), 0, deviation / 10);
        Assert.InRange(deviation, 0.4 / Math.Sqrt(256), 2.5 / Math.Sqrt(256));
        double kurtosis = down.Average(v => Math.Pow((v - mean) / deviation, 4));
        Assert.True(kurtosis > 3.2, $"kurtosis {kurtosis:F2} should exceed a normal distribution's 3");
    }

    [Fact]
    public void OutlierColumnsExist()
    {
        // At one column in 256, the E2B per-layer embedding (8960 columns) has about 35 outlier columns.
        var weights = new SyntheticWeights(0, "model.language_model.embed_tokens_per_layer.weight", [16, 8960]);
        var magnitudes = new double[8960];
        var row = new ushort[8960];
        for (int r = 0; r < 16; r++)
        {
            weights.FillRow(r, row);
            for (int c = 0; c < row.Length; c++)
            {
                magnitudes[c] += Math.Abs(BFloat16.ToSingle(row[c]));
            }
        }

        double median = magnitudes.Order().ElementAt(magnitudes.Length / 2);
        int outliers = magnitudes.Count(m => m > 2.5 * median);
        Assert.InRange(outliers, 10, 80);
    }

    [Fact]
    public void ExistingOutputNeedsForce()
    {
        using var folder = new TemporaryFolder();
        string output = folder.Combine("tiny");
        SyntheticCheckpoint.Write(SyntheticPreset.Tiny, output, seed: 1);

        var exception = Assert.Throws<IOException>(() => SyntheticCheckpoint.Write(SyntheticPreset.Tiny, output, seed: 2));
        SyntheticCheckpoint.Write(SyntheticPreset.Tiny, output, new SyntheticOptions { Seed = 2, Force = true });

        Assert.Contains("already exists", exception.Message, StringComparison.Ordinal);
        Assert.Equal(["tiny"], folder.Entries().Where(e => !e.Contains(Path.DirectorySeparatorChar)));
    }

    [Fact]
    public void CancellationLeavesNothing()
    {
        using var folder = new TemporaryFolder();
        using var cancellation = new CancellationTokenSource();
        var progress = new CallbackProgress(p =>
        {
            if (p.Done > p.Total / 2)
            {
                cancellation.Cancel();
            }
        });

        Assert.ThrowsAny<OperationCanceledException>(() => SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder.Combine("tiny"), new SyntheticOptions(), progress, cancellation.Token));

        Assert.Empty(folder.Entries());
    }

    [Fact]
    public void GivenTokenizerIsCopied()
    {
        using var folder = new TemporaryFolder();
        string tokenizerFolder = folder.Combine("tok");
        Directory.CreateDirectory(tokenizerFolder);
        File.WriteAllText(Path.Combine(tokenizerFolder, "tokenizer.json"), "{\"model\":{}}");

        var result = SyntheticCheckpoint.Write(SyntheticPreset.Tiny, folder.Combine("tiny"), new SyntheticOptions { TokenizerPath = tokenizerFolder });

        Assert.Equal("{\"model\":{}}", File.ReadAllText(Path.Combine(result.OutputDirectory, "tokenizer.json")));
        Assert.Equal(Path.Combine(tokenizerFolder, "tokenizer.json"), result.TokenizerSource);
        var missing = Assert.Throws<FileNotFoundException>(() => SyntheticCheckpoint.Write(
            SyntheticPreset.Tiny, folder.Combine("other"), new SyntheticOptions { TokenizerPath = folder.Combine("none.json") }));
        Assert.Contains("Tokenizer not found", missing.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void FullTokenizerIsFoundAboveStartFolder()
    {
        using var folder = new TemporaryFolder();
        string cache = folder.Combine(".cache", "gemma4-tokenizer");
        Directory.CreateDirectory(cache);
        File.WriteAllText(Path.Combine(cache, "tokenizer.json"), "{}");
        string start = folder.Combine("a", "b");
        Directory.CreateDirectory(start);

        Assert.Equal(Path.Combine(cache, "tokenizer.json"), SyntheticCheckpoint.FindFullTokenizer(start));
    }

    [Theory]
    [InlineData("tiny", 739_290L)]
    [InlineData("e2b", 4_647_449_891L)]
    public void PresetParameterCounts(string name, long parameters)
    {
        var preset = SyntheticPreset.Parse(name);

        Assert.Equal(parameters, preset.Tensors().Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b)));
        Assert.Equal(name, preset.Name);
    }

    [Fact]
    public void E4BConfigHasFullLayerEverySixth()
    {
        var config = Gemma4Config.FromJson(System.Text.Json.JsonSerializer.SerializeToElement(SyntheticPreset.E4B.ConfigJson()));

        Assert.Equal(42, config.NumHiddenLayers);
        Assert.Equal([5, 11, 17, 23, 29, 35, 41], Enumerable.Range(0, 42).Where(i => config.LayerType(i) == AttentionKind.Full));
        Assert.Equal(22, config.KvSourceLayer(30));
        Assert.Equal(10240, config.LayerIntermediateSize(41));
    }

    [Fact]
    public void UnknownPresetIsRejected()
    {
        var exception = Assert.Throws<ArgumentException>(() => SyntheticPreset.Parse("e8b"));

        Assert.Contains("use tiny, e2b or e4b", exception.Message, StringComparison.Ordinal);
    }

    private static float[] Logits(string directory)
    {
        using var model = Gemma4Model.Load(directory);
        int[] prompt = [2, 17, 300, 45, 99, 7, 256, 3];
        var logits = new float[prompt.Length * model.Config.VocabSize];
        model.CreateSession().Forward(prompt, logits, allPositions: true);
        return logits;
    }

    private sealed class CallbackProgress(Action<SyntheticProgress> callback) : IProgress<SyntheticProgress>
    {
        public void Report(SyntheticProgress value) => callback(value);
    }
}
