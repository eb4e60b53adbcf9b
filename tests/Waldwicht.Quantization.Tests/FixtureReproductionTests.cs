using System.Text.Json;
using System.Text.Json.Nodes;
using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.Recipes;
using Waldwicht.Tests;
using Xunit.Abstractions;

namespace Waldwicht.Quantization.Tests;

/// <summary>
/// Quantizes the committed tiny BF16 model with the settings of each committed quantized variant
/// and compares the result with that variant: tensors byte for byte, the config's quantization
/// block, and the logits of the loaded model.
/// </summary>
public sealed class FixtureReproductionTests(ITestOutputHelper output)
{
    private const float LogitTolerance = 1e-3f;

    // The winzling recipe as the tiny fixtures use it: the per-layer embedding has 160 columns,
    // which 64 does not divide, so it takes group size 32.
    private const string TinyWinzling = "default=5,mlp=4,ple=3@32,gate=4,embed=3";

    public static TheoryData<string, string, int?, CheckpointLayout, ElementType, MlxQuantizerSemantics> Variants => new()
    {
        { "winzling-like", TinyWinzling, null, CheckpointLayout.MlxLm, ElementType.BF16, MlxQuantizerSemantics.Cpu },
        { "winzling-like-release-layout", TinyWinzling, null, CheckpointLayout.Waldwicht, ElementType.BF16, MlxQuantizerSemantics.Cpu },
        { "winzling-export", TinyWinzling, null, CheckpointLayout.Waldwicht, ElementType.F32, MlxQuantizerSemantics.Gpu },
        { "uniform-q4-g64", "uniform-4", null, CheckpointLayout.MlxLm, ElementType.BF16, MlxQuantizerSemantics.Cpu },
        { "uniform-q3-g32", "uniform-3", 32, CheckpointLayout.MlxLm, ElementType.BF16, MlxQuantizerSemantics.Cpu },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void QuantizedTensorsMatchVariant(
        string variant, string recipe, int? groupSize, CheckpointLayout layout, ElementType scaleType, MlxQuantizerSemantics rounding)
    {
        using var folder = new TemporaryFolder();
        string outputDirectory = Quantize(folder, recipe, groupSize, layout, scaleType, rounding);
        string expectedDirectory = TestData.Path("tiny-gemma4", variant);

        using var expected = SafetensorsCheckpoint.Open(expectedDirectory);
        using var actual = SafetensorsCheckpoint.Open(outputDirectory);
        Assert.Equal(expected.Names.Order(StringComparer.Ordinal), actual.Names.Order(StringComparer.Ordinal));
        foreach (var name in expected.Names)
        {
            var expectedInfo = expected.GetInfo(name);
            var actualInfo = actual.GetInfo(name);
            Assert.True(expectedInfo.DType == actualInfo.DType, $"{name}: dtype {actualInfo.DType}, expected {expectedInfo.DType}");
            Assert.Equal(expectedInfo.Shape, actualInfo.Shape);
            var expectedBytes = expected.GetSpan<byte>(name);
            var actualBytes = actual.GetSpan<byte>(name);
            int mismatch = FirstDifference(expectedBytes, actualBytes);
            Assert.True(mismatch < 0, $"{name}: first differing byte at offset {mismatch}");
        }

    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void OutputFilesAreByteIdentical(
        string variant, string recipe, int? groupSize, CheckpointLayout layout, ElementType scaleType, MlxQuantizerSemantics rounding)
    {
        using var folder = new TemporaryFolder();
        string outputDirectory = Quantize(folder, recipe, groupSize, layout, scaleType, rounding);
        string expectedDirectory = TestData.Path("tiny-gemma4", variant);

        // config.json of the Waldwicht layout differs on purpose: the source's architectures entry
        // is kept, and quantization_config mirrors the block instead of the published stale one.
        string[] identical = layout == CheckpointLayout.MlxLm
            ? ["model.safetensors", "model.safetensors.index.json", "config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]
            : ["model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"];
        foreach (var name in identical)
        {
            byte[] expected = File.ReadAllBytes(Path.Combine(expectedDirectory, name));
            byte[] actual = File.ReadAllBytes(Path.Combine(outputDirectory, name));
            output.WriteLine($"{variant}/{name}: {(expected.AsSpan().SequenceEqual(actual) ? "byte-identical" : "differs")}");
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"{variant}/{name} differs from the committed file (first difference at byte {FirstDifference(expected, actual)})");
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void QuantizationBlockMatchesVariant(
        string variant, string recipe, int? groupSize, CheckpointLayout layout, ElementType scaleType, MlxQuantizerSemantics rounding)
    {
        using var folder = new TemporaryFolder();
        string outputDirectory = Quantize(folder, recipe, groupSize, layout, scaleType, rounding);

        var expected = ReadConfig(TestData.Path("tiny-gemma4", variant, "config.json"));
        var actual = ReadConfig(Path.Combine(outputDirectory, "config.json"));
        AssertSameObject(expected["quantization"]!.AsObject(), actual["quantization"]!.AsObject(), "quantization");

        // The published Waldwicht configs mirror only the global values, with stale bits (3);
        // the mirror written here always equals the quantization block.
        Assert.True(JsonNode.DeepEquals(actual["quantization"], actual["quantization_config"]), "quantization_config must mirror quantization");
        if (layout == CheckpointLayout.MlxLm)
        {
            Assert.Equal(expected.Select(p => p.Key), actual.Select(p => p.Key));
        }

        Assert.True(JsonNode.DeepEquals(expected["text_config"], actual["text_config"]), "text_config must be copied unchanged");
        var loaded = MlxQuantizationConfig.FromConfigFile(Path.Combine(outputDirectory, "config.json"));
        Assert.NotNull(loaded);
        Assert.Null(loaded.Warning);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void LoadedModelReproducesVariantLogits(
        string variant, string recipe, int? groupSize, CheckpointLayout layout, ElementType scaleType, MlxQuantizerSemantics rounding)
    {
        using var folder = new TemporaryFolder();
        string outputDirectory = Quantize(folder, recipe, groupSize, layout, scaleType, rounding);
        var prompt = ReadPrompt(variant);
        var expected = ReadLogits(variant);

        using var model = Gemma4Model.Load(outputDirectory);
        var session = model.CreateSession();
        var logits = new float[prompt.Length * model.Config.VocabSize];
        session.Forward(prompt, logits, allPositions: true);

        float worst = 0;
        int worstIndex = -1;
        for (int i = 0; i < expected.Length; i++)
        {
            float difference = MathF.Abs(expected[i] - logits[i]);
            if (!(difference <= worst))
            {
                worst = difference;
                worstIndex = i;
            }
        }

        Assert.True(worst <= LogitTolerance, $"{variant}: max |logit difference| {worst} at index {worstIndex}");
    }

    [Fact]
    public void LayoutsHoldIdenticalTensors()
    {
        using var folder = new TemporaryFolder();
        string waldwicht = Quantize(folder, TinyWinzling, null, CheckpointLayout.Waldwicht, ElementType.F32, MlxQuantizerSemantics.Gpu, "waldwicht");
        string mlx = Quantize(folder, TinyWinzling, null, CheckpointLayout.MlxLm, ElementType.F32, MlxQuantizerSemantics.Gpu, "mlx");

        using var a = SafetensorsCheckpoint.Open(waldwicht);
        using var b = SafetensorsCheckpoint.Open(mlx);
        var renamed = a.Names.Select(n => n.Replace("model.language_model.", "language_model.model.", StringComparison.Ordinal)).Order(StringComparer.Ordinal);
        Assert.Equal(renamed, b.Names.Order(StringComparer.Ordinal));
        foreach (var name in a.Names)
        {
            string other = name.Replace("model.language_model.", "language_model.model.", StringComparison.Ordinal);
            Assert.True(a.GetSpan<byte>(name).SequenceEqual(b.GetSpan<byte>(other)), $"{name} differs between layouts");
        }

        Assert.Equal(new Dictionary<string, string> { ["format"] = "mlx" }, b.Files[0].Metadata);
        Assert.Null(a.Files[0].Metadata);
        Assert.True(File.Exists(Path.Combine(mlx, SafetensorsCheckpoint.IndexFileName)));
        Assert.False(File.Exists(Path.Combine(waldwicht, SafetensorsCheckpoint.IndexFileName)));
    }

    internal static string Quantize(
        TemporaryFolder folder, string recipe, int? groupSize, CheckpointLayout layout, ElementType scaleType, MlxQuantizerSemantics rounding, string name = "out")
    {
        var options = new QuantizeOptions
        {
            Recipe = QuantizationRecipe.Parse(recipe, groupSize),
            Layout = layout,
            ScaleType = scaleType,
            Rounding = rounding,

            // Small blocks so that every matrix of the tiny model is processed in several blocks.
            BlockBytes = 1000,
        };
        string outputDirectory = folder.Combine(name);
        CheckpointQuantizer.Quantize(TinyModel.Folder, outputDirectory, options);
        return outputDirectory;
    }

    private static int FirstDifference(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual)
    {
        int length = Math.Min(expected.Length, actual.Length);
        for (int i = 0; i < length; i++)
        {
            if (expected[i] != actual[i])
            {
                return i;
            }
        }

        return expected.Length == actual.Length ? -1 : length;
    }

    private static JsonObject ReadConfig(string path) => JsonNode.Parse(File.ReadAllText(path))!.AsObject();

    private static void AssertSameObject(JsonObject expected, JsonObject actual, string where)
    {
        Assert.Equal(expected.Select(p => p.Key).Order(StringComparer.Ordinal), actual.Select(p => p.Key).Order(StringComparer.Ordinal));
        foreach (var (key, value) in expected)
        {
            Assert.True(JsonNode.DeepEquals(value, actual[key]), $"{where}.{key}: {actual[key]?.ToJsonString()}, expected {value?.ToJsonString()}");
        }
    }

    private static int[] ReadPrompt(string variant)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(TestData.Path("tiny-gemma4", variant, "expected_greedy.json")));
        return document.RootElement.GetProperty("prompt_token_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    private static float[] ReadLogits(string variant)
    {
        using var file = SafetensorsFile.Open(TestData.Path("tiny-gemma4", variant, "expected_logits.safetensors"));
        return file.GetSpan<float>("logits").ToArray();
    }
}
