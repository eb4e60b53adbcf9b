using Waldwicht.Numerics.Matrices;
using Waldwicht.Quantization.Conversion;
using Waldwicht.Quantization.Recipes;
using Waldwicht.Quantization.Synthetic;

namespace Waldwicht.Quantization.Tests;

/// <summary>
/// Plans of the published recipes for the E2B text decoder, computed from the headers of a
/// synthetic checkpoint without its data. Their totals must equal the sizes that the size model
/// gives for a text-only export, in decimal GB (2.600 GB for Winzling with float32 scales).
/// </summary>
public sealed class PlanSizeTests : IClassFixture<PlanSizeTests.E2BHeaders>
{
    private readonly E2BHeaders _headers;

    public PlanSizeTests(E2BHeaders headers) => _headers = headers;

    [Theory]
    [InlineData("winzling", ElementType.F32, 2.600)]
    [InlineData("sproessling", ElementType.F32, 2.795)]
    [InlineData("juengling", ElementType.F32, 3.486)]
    [InlineData("uniform-4", ElementType.F32, 2.905)]
    [InlineData("winzling", ElementType.BF16, 2.310)]
    [InlineData("sproessling", ElementType.BF16, 2.504)]
    [InlineData("juengling", ElementType.BF16, 3.196)]
    [InlineData("uniform-4", ElementType.BF16, 2.615)]
    public void E2BTotalsMatchSizeModel(string recipe, ElementType scaleType, double expectedGb)
    {
        var plan = QuantizationPlanner.Plan(_headers.Source, new QuantizeOptions { Recipe = QuantizationRecipe.Parse(recipe), ScaleType = scaleType });

        Assert.Equal(expectedGb, Math.Round(plan.FileBytes / 1e9, 3));
    }

    [Fact]
    public void E2BComponentElementCounts()
    {
        var plan = QuantizationPlanner.Plan(_headers.Source, new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling") });
        var rows = plan.Rows.ToDictionary(r => r.Label);

        Assert.Equal(297_271_296, rows["attention"].ElementCount);
        Assert.Equal(1_557_135_360, rows["mlp"].ElementCount);
        Assert.Equal(2_348_810_240, rows["ple_embeddings"].ElementCount);
        Assert.Equal(27_525_120, rows["ple_gate_proj"].ElementCount);
        Assert.Equal(402_653_184, rows["main_embed_lmhead"].ElementCount);
        Assert.Equal(13_762_560, rows["default"].ElementCount);
        Assert.Equal(292_131, rows["kept"].ElementCount);
        Assert.Equal(140, rows["attention"].TensorCount);
        Assert.Equal(105, rows["mlp"].TensorCount);
        Assert.Equal(70, rows["ple_gate_proj"].TensorCount);
        Assert.False(rows.ContainsKey("dropped"));
    }

    [Fact]
    public void E2BWinzlingRowsCarryRecipeBits()
    {
        var plan = QuantizationPlanner.Plan(_headers.Source, new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling") });
        var bits = plan.Rows.Where(r => r.Parameters != null).ToDictionary(r => r.Label, r => r.Parameters!.Value.Bits);

        Assert.Equal(5, bits["attention"]);
        Assert.Equal(4, bits["mlp"]);
        Assert.Equal(3, bits["ple_embeddings"]);
        Assert.Equal(4, bits["ple_gate_proj"]);
        Assert.Equal(3, bits["main_embed_lmhead"]);
        Assert.Equal(5, bits["default"]);
        Assert.All(plan.Rows.Where(r => r.Parameters != null), r => Assert.Equal(64, r.Parameters!.Value.GroupSize));
    }

    [Fact]
    public void E2BWaldwichtLayoutShardsAt2GiB()
    {
        var plan = QuantizationPlanner.Plan(_headers.Source, new QuantizeOptions { Recipe = QuantizationRecipe.Parse("sproessling") });

        Assert.Equal(["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], plan.Shards.Select(s => s.FileName));
        Assert.All(plan.Shards, s => Assert.True(s.DataBytes <= QuantizationPlanner.WaldwichtShardBytes));
        var names = plan.Shards.SelectMany(s => s.Tensors).Select(t => t.Name).ToList();
        Assert.Equal(names.Order(StringComparer.Ordinal), names);
    }

    [Fact]
    public void E2BWinzlingLeafEntries()
    {
        var plan = QuantizationPlanner.Plan(_headers.Source, new QuantizeOptions { Recipe = QuantizationRecipe.Parse("winzling") });

        Assert.Equal(
            ["gate_proj", "up_proj", "down_proj", "embed_tokens_per_layer", "per_layer_input_gate", "per_layer_projection", "embed_tokens", "lm_head"],
            plan.ConfigEntries.Select(e => e.Key));
    }

    /// <summary>A header-only E2B checkpoint shared by the tests of this class.</summary>
    public sealed class E2BHeaders : IDisposable
    {
        private readonly TemporaryFolder _folder = new();

        public E2BHeaders()
        {
            string directory = _folder.Combine("e2b");
            SyntheticCheckpoint.WriteHeaderOnly(SyntheticPreset.E2B, directory);
            Source = SourceCheckpoint.OpenHeadersOnly(directory);
        }

        public SourceCheckpoint Source { get; }

        public void Dispose() => _folder.Dispose();
    }
}
