using System.Globalization;
using System.Text.Json;
using Waldwicht.Formats.Mlx;
using Waldwicht.Numerics;
using Waldwicht.Tests;

namespace Waldwicht.Formats.Tests;

/// <summary>
/// Checks the quantizer against tests/data/mlx-affine-quant/hand-derived-vectors.json: ramps,
/// exact ties, constant, all-zero and all-negative groups, derived by hand from the MLX kernels.
/// </summary>
public sealed class MlxHandDerivedVectorTests
{
    private static readonly Lazy<JsonDocument> Document =
        new(() => JsonDocument.Parse(File.ReadAllBytes(TestData.Path("mlx-affine-quant", "hand-derived-vectors.json"))));

    public static TheoryData<string, int> Results()
    {
        var data = new TheoryData<string, int>();
        foreach (var vector in Document.Value.RootElement.GetProperty("vectors").EnumerateArray())
        {
            int count = vector.GetProperty("results").GetArrayLength();
            for (int i = 0; i < count; i++)
            {
                data.Add(vector.GetProperty("name").GetString()!, i);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Results))]
    public void ReproducesVector(string vectorName, int resultIndex)
    {
        var vector = Document.Value.RootElement.GetProperty("vectors").EnumerateArray()
            .Single(v => v.GetProperty("name").GetString() == vectorName);
        var result = vector.GetProperty("results")[resultIndex];
        float[] input = [.. vector.GetProperty("input").EnumerateArray().Select(v => float.Parse(v.GetString()!, CultureInfo.InvariantCulture))];
        var parameters = new QuantizationParameters(result.GetProperty("bits").GetInt32(), result.GetProperty("group_size").GetInt32());
        var semantics = result.GetProperty("backend").GetString() == "cpu" ? MlxQuantizerSemantics.Cpu : MlxQuantizerSemantics.Gpu;
        var quantizer = new MlxAffineQuantizer(parameters, semantics);
        var packed = new uint[quantizer.PackedColumns(input.Length)];
        var scales = new float[quantizer.GroupColumns(input.Length)];
        var biases = new float[scales.Length];

        quantizer.QuantizeRows(input, input.Length, packed, scales, biases);

        Assert.Equal(Hex(result, "packed_u32_hex"), packed);
        Assert.Equal(Hex(result, "scales_f32_hex"), scales.Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal(Hex(result, "biases_f32_hex"), biases.Select(BitConverter.SingleToUInt32Bits));
        Assert.Equal(Hex(result, "scales_bf16_hex"), scales.Select(s => (uint)BFloat16.FromSingle(s)));
        Assert.Equal(Hex(result, "biases_bf16_hex"), biases.Select(b => (uint)BFloat16.FromSingle(b)));

        // q0 ≠ 0 moves the scale to bias / q0; q0 = 0 leaves the bias at 0.
        var q0 = result.GetProperty("q0").EnumerateArray().Select(q => q.GetDouble()).ToArray();
        for (int g = 0; g < scales.Length; g++)
        {
            if (q0[g] == 0)
            {
                Assert.Equal(0f, biases[g]);
            }
            else
            {
                Assert.Equal(biases[g] / (float)q0[g], scales[g]);
            }
        }

        var codes = new byte[input.Length];
        MlxPacking.Unpack(packed, parameters.Bits, codes);
        Assert.Equal(result.GetProperty("codes").EnumerateArray().Select(c => (byte)c.GetInt32()), codes);

        var dequantized = new float[input.Length];
        MlxAffineQuantizer.DequantizeRows(packed, scales, biases, input.Length, parameters, dequantized);
        var expected = result.GetProperty("dequant_f32").EnumerateArray().Select(v => float.Parse(v.GetString()!, CultureInfo.InvariantCulture));
        Assert.Equal(expected.Select(BitConverter.SingleToUInt32Bits), dequantized.Select(BitConverter.SingleToUInt32Bits));

        // Group by group gives the same scale, bias and codes as the row method.
        var groupCodes = new byte[parameters.GroupSize];
        for (int g = 0; g < scales.Length; g++)
        {
            var group = quantizer.QuantizeGroup(input.AsSpan(g * parameters.GroupSize, parameters.GroupSize), groupCodes);
            Assert.Equal(new AffineGroup(scales[g], biases[g]), group);
            Assert.Equal(codes.AsSpan(g * parameters.GroupSize, parameters.GroupSize).ToArray(), groupCodes);
            Assert.Equal(group, quantizer.ComputeGroup(input.AsSpan(g * parameters.GroupSize, parameters.GroupSize)));
        }
    }

    [Fact]
    public void EveryVectorIsChecked()
    {
        Assert.Equal(34, Results().Count());
    }

    private static uint[] Hex(JsonElement result, string property) =>
        [.. result.GetProperty(property).EnumerateArray().Select(h => uint.Parse(h.GetString()![2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture))];
}
