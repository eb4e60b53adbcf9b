using System.Text.Json.Nodes;
using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Model.Gemma4;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.Recipes;

namespace Waldwicht.Quantization.Tests;

public sealed class ConversionTests
{
    [Theory]
    [InlineData(CheckpointLayout.Waldwicht)]
    [InlineData(CheckpointLayout.MlxLm)]
    public void PlanPredictsOutputFiles(CheckpointLayout layout)
    {
        using var folder = new TemporaryFolder();
        var options = new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling"), Layout = layout };
        var plan = QuantizationPlanner.Plan(TinyModel.Folder, options);

        var result = CheckpointQuantizer.Execute(plan, folder.Combine("out"));

        Assert.Equal(plan.FileBytes, result.SafetensorsBytes);
        foreach (var shard in plan.Shards)
        {
            Assert.Equal(shard.FileBytes, new FileInfo(Path.Combine(result.OutputDirectory, shard.FileName)).Length);
        }

        Assert.Contains("README.md", result.Files);
        Assert.Contains("tokenizer.json", result.Files);
        Assert.Contains("tokenizer_config.json", result.Files);
        Assert.Contains("generation_config.json", result.Files);
        Assert.Equal(layout == CheckpointLayout.MlxLm, result.Files.Contains(SafetensorsCheckpoint.IndexFileName));
        Assert.Equal(["out"], folder.Entries().Where(e => !e.Contains(Path.DirectorySeparatorChar)));
    }

    [Fact]
    public void ShardedInputGivesSameOutput()
    {
        using var folder = new TemporaryFolder();
        string sharded = CheckpointBuilder.FromTinyModel().Write(folder.Combine("sharded"), shards: 3);
        var options = new QuantizeOptions { Recipe = QuantizationRecipe.Parse("sproessling", 32) };

        CheckpointQuantizer.Quantize(sharded, folder.Combine("from-shards"), options);
        CheckpointQuantizer.Quantize(TinyModel.Folder, folder.Combine("from-file"), options);

        Assert.Equal(
            File.ReadAllBytes(folder.Combine("from-file", "model.safetensors")),
            File.ReadAllBytes(folder.Combine("from-shards", "model.safetensors")));
    }

    [Fact]
    public void InputStaysUnchanged()
    {
        using var folder = new TemporaryFolder();
        string input = TinyModel.CopyTo(folder.Combine("input"));
        var before = Directory.GetFiles(input).ToDictionary(f => Path.GetFileName(f), f => (File.ReadAllBytes(f), File.GetLastWriteTimeUtc(f)));

        CheckpointQuantizer.Quantize(input, folder.Combine("out"), new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling") });

        var after = Directory.GetFiles(input).ToDictionary(f => Path.GetFileName(f), f => (File.ReadAllBytes(f), File.GetLastWriteTimeUtc(f)));
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (name, (bytes, time)) in before)
        {
            Assert.Equal(bytes, after[name].Item1);
            Assert.Equal(time, after[name].Item2);
        }
    }

    [Fact]
    public void UndividedDimensionsStayBf16WithWarning()
    {
        // The tiny model's per-layer embedding has 160 columns and per_layer_projection 16, which 64 does not divide.
        var plan = QuantizationPlanner.Plan(TinyModel.Folder, new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling") });

        var ple = plan.Tensors.Single(t => t.Source.Name == "model.language_model.embed_tokens_per_layer.weight");
        Assert.Equal(TensorAction.Keep, ple.Action);
        Assert.Contains("not a multiple of group size 64", ple.Reason, StringComparison.Ordinal);
        Assert.Contains(plan.Warnings, w => w.Contains("1 ple_embeddings tensor(s) stay unquantized", StringComparison.Ordinal) && w.Contains("(160)", StringComparison.Ordinal));
        Assert.Contains(plan.Warnings, w => w.Contains("10 ple_gate_proj tensor(s)", StringComparison.Ordinal) && w.Contains("(16)", StringComparison.Ordinal));

        // No leaf entry may name modules that are all stored unquantized.
        Assert.DoesNotContain(plan.ConfigEntries, e => e.Key is "embed_tokens_per_layer" or "per_layer_projection");
        Assert.Contains(plan.ConfigEntries, e => e.Key == "per_layer_input_gate");
    }

    [Fact]
    public void ScaleTypeAndRoundingOptionsApply()
    {
        using var folder = new TemporaryFolder();
        var recipe = QuantizationRecipe.Parse("uniform-4");
        CheckpointQuantizer.Quantize(TinyModel.Folder, folder.Combine("gpu-f32"), new QuantizeOptions { Recipe = recipe });
        CheckpointQuantizer.Quantize(
            TinyModel.Folder, folder.Combine("cpu-bf16"), new QuantizeOptions { Recipe = recipe, ScaleType = ElementType.BF16, Rounding = MlxQuantizerSemantics.Cpu });

        using var f32 = SafetensorsCheckpoint.Open(folder.Combine("gpu-f32"));
        using var bf16 = SafetensorsCheckpoint.Open(folder.Combine("cpu-bf16"));
        const string scales = "model.language_model.layers.0.mlp.up_proj.scales";
        Assert.Equal(SafetensorsDType.F32, f32.GetInfo(scales).DType);
        Assert.Equal(SafetensorsDType.BF16, bf16.GetInfo(scales).DType);
        Assert.Equal(f32.GetInfo(scales).Shape, bf16.GetInfo(scales).Shape);
        Assert.Equal(SafetensorsDType.BF16, f32.GetInfo("model.language_model.layers.0.input_layernorm.weight").DType);
    }

    [Fact]
    public void TowersQuantizedByDefaultDroppedWhenTextOnly()
    {
        using var folder = new TemporaryFolder();
        var builder = CheckpointBuilder.FromTinyModel()
            .AddBf16("model.vision_tower.encoder.layers.0.self_attn.q_proj.linear.weight", 64, 128)
            .AddBf16("model.vision_tower.encoder.layers.0.input_layernorm.weight", 128)
            .AddBf16("model.embed_vision.embedding_projection.weight", 64, 96);
        builder.Config["vision_config"] = new JsonObject { ["hidden_size"] = 128 };
        string input = builder.Write(folder.Combine("input"));
        var recipe = QuantizationRecipe.Parse("winzling");

        var full = CheckpointQuantizer.Quantize(input, folder.Combine("full"), new QuantizeOptions { Recipe = recipe });
        var textOnly = CheckpointQuantizer.Quantize(input, folder.Combine("text"), new QuantizeOptions { Recipe = recipe, TextOnly = true });
        var mlx = CheckpointQuantizer.Quantize(input, folder.Combine("mlx"), new QuantizeOptions { Recipe = recipe, Layout = CheckpointLayout.MlxLm });

        using (var checkpoint = SafetensorsCheckpoint.Open(full.OutputDirectory))
        {
            Assert.Equal(SafetensorsDType.U32, checkpoint.GetInfo("model.vision_tower.encoder.layers.0.self_attn.q_proj.linear.weight").DType);
            Assert.Equal(SafetensorsDType.BF16, checkpoint.GetInfo("model.vision_tower.encoder.layers.0.input_layernorm.weight").DType);
            Assert.Equal(SafetensorsDType.BF16, checkpoint.GetInfo("model.embed_vision.embedding_projection.weight").DType);
        }

        Assert.NotNull(ReadConfig(full.OutputDirectory)["vision_config"]);
        foreach (var result in new[] { textOnly, mlx })
        {
            using var checkpoint = SafetensorsCheckpoint.Open(result.OutputDirectory);
            Assert.DoesNotContain(checkpoint.Names, n => n.Contains("vision", StringComparison.Ordinal));
            Assert.Equal(3, result.Plan.Tensors.Count(t => t.Action == TensorAction.Drop));
        }

        Assert.Null(ReadConfig(textOnly.OutputDirectory)["vision_config"]);
        using var model = Gemma4Model.Load(full.OutputDirectory);
        Assert.Equal(10, model.Config.NumHiddenLayers);
    }

    [Fact]
    public void ProgressCoversAllWork()
    {
        using var folder = new TemporaryFolder();
        var reports = new List<QuantizationProgress>();
        var options = new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling", 32), BlockBytes = 4096 };

        CheckpointQuantizer.Quantize(TinyModel.Folder, folder.Combine("out"), options, new CollectingProgress(reports));

        Assert.NotEmpty(reports);
        Assert.Equal(reports[^1].Total, reports[^1].Done);
        Assert.Equal(reports[^1].TensorCount, reports[^1].TensorNumber);
        Assert.True(reports.Zip(reports.Skip(1)).All(p => p.Second.Done >= p.First.Done), "progress must not go back");
        Assert.All(reports, r => Assert.InRange(r.TensorDone, 0, r.TensorTotal));
    }

    [Fact]
    public void ModelCardListsRecipeAndSizes()
    {
        using var folder = new TemporaryFolder();
        var result = CheckpointQuantizer.Quantize(TinyModel.Folder, folder.Combine("tiny-winzling"), new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling", 32) });

        string card = File.ReadAllText(Path.Combine(result.OutputDirectory, "README.md"));
        Assert.StartsWith("# tiny-winzling\n", card, StringComparison.Ordinal);
        Assert.Contains("winzling (`default=5@32,mlp=4@32,ple=3@32,gate=4@32,embed=3@32`)", card, StringComparison.Ordinal);
        Assert.Contains("| mlp | 4 | 32 | 30 |", card, StringComparison.Ordinal);
        Assert.Contains(result.SafetensorsBytes.ToString("N0", System.Globalization.CultureInfo.InvariantCulture), card, StringComparison.Ordinal);
    }

    private static JsonObject ReadConfig(string directory) => JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "config.json")))!.AsObject();

    private sealed class CollectingProgress(List<QuantizationProgress> reports) : IProgress<QuantizationProgress>
    {
        public void Report(QuantizationProgress value) => reports.Add(value);
    }
}
