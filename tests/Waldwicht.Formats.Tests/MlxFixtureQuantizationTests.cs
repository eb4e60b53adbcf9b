using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Tests;

namespace Waldwicht.Formats.Tests;

/// <summary>
/// Re-quantizes the BF16 tiny model and compares every packed weight, scale and bias with the
/// committed quantized variants, bit for bit.
/// </summary>
public sealed class MlxFixtureQuantizationTests
{
    private const string HfPrefix = "model.language_model.";
    private const string MlxPrefix = "language_model.model.";

    [Theory]
    [InlineData("winzling-export", MlxQuantizerSemantics.Gpu, ElementType.F32)]
    [InlineData("winzling-like", MlxQuantizerSemantics.Cpu, ElementType.BF16)]
    [InlineData("winzling-like-release-layout", MlxQuantizerSemantics.Cpu, ElementType.BF16)]
    [InlineData("uniform-q4-g64", MlxQuantizerSemantics.Cpu, ElementType.BF16)]
    [InlineData("uniform-q3-g32", MlxQuantizerSemantics.Cpu, ElementType.BF16)]
    public void ReproducesQuantizedTensors(string folder, MlxQuantizerSemantics semantics, ElementType scaleType)
    {
        using var source = SafetensorsCheckpoint.Open(TestData.Path("tiny-gemma4", "model.safetensors"));
        string path = TestData.Path("tiny-gemma4", folder);
        using var quantized = SafetensorsCheckpoint.Open(path);
        var config = MlxQuantizationConfig.FromConfigFile(Path.Combine(path, "config.json"))!;
        int modules = 0;
        int copied = 0;

        foreach (var info in quantized.Tensors)
        {
            string hfName = info.Name.StartsWith(MlxPrefix, StringComparison.Ordinal) ? HfPrefix + info.Name[MlxPrefix.Length..] : info.Name;
            if (info.Name.EndsWith(".scales", StringComparison.Ordinal))
            {
                string module = info.Name[..^".scales".Length];
                string hfModule = hfName[..^".scales".Length];
                ReproduceModule(source, quantized, config, module, hfModule, semantics, scaleType);
                modules++;
            }
            else if (!info.Name.EndsWith(".biases", StringComparison.Ordinal) && !quantized.Contains(info.Name[..info.Name.LastIndexOf('.')] + ".scales"))
            {
                // Everything that is not quantized is copied unchanged from the BF16 model.
                Assert.True(source.GetSpan<byte>(hfName).SequenceEqual(quantized.GetSpan<byte>(info.Name)), $"{folder}: {info.Name} differs from {hfName}.");
                copied++;
            }
        }

        Assert.True(modules >= 81, $"{folder}: only {modules} quantized modules found.");
        Assert.Equal(source.Tensors.Count(), modules + copied);
    }

    private static void ReproduceModule(
        SafetensorsCheckpoint source,
        SafetensorsCheckpoint quantized,
        MlxQuantizationConfig config,
        string module,
        string hfModule,
        MlxQuantizerSemantics semantics,
        ElementType scaleType)
    {
        var weight = source.GetInfo(hfModule + ".weight");
        int rows = (int)weight.Shape[0];
        int columns = (int)weight.Shape[1];
        string mlxModule = MlxPrefix + hfModule[HfPrefix.Length..];
        var parameters = config.Resolve([mlxModule, hfModule], hasScales: true)!.Value;
        QuantizedLayout.Infer(
            module,
            quantized.GetInfo(module + ".weight").Shape,
            quantized.GetInfo(module + ".scales").Shape,
            quantized.GetInfo(module + ".biases").Shape,
            rows,
            columns,
            parameters);

        var quantizer = new MlxAffineQuantizer(parameters, semantics);
        var packed = new uint[rows * quantizer.PackedColumns(columns)];
        var scales = new byte[rows * quantizer.GroupColumns(columns) * scaleType.Size()];
        var biases = new byte[scales.Length];
        quantizer.QuantizeRows(source.GetSpan<byte>(hfModule + ".weight"), ElementType.BF16, columns, packed, scales, biases, scaleType);

        Assert.True(quantized.GetSpan<uint>(module + ".weight").SequenceEqual(packed), $"{module}.weight differs ({parameters}, {semantics}).");
        Assert.True(quantized.GetSpan<byte>(module + ".scales").SequenceEqual(scales), $"{module}.scales differ ({parameters}, {semantics}).");
        Assert.True(quantized.GetSpan<byte>(module + ".biases").SequenceEqual(biases), $"{module}.biases differ ({parameters}, {semantics}).");
    }
}
