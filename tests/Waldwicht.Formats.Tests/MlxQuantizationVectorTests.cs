using System.Runtime.InteropServices;
using System.Text.Json;
using Waldwicht.Formats.Mlx;
using Waldwicht.Formats.Safetensors;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Tests;

namespace Waldwicht.Formats.Tests;

/// <summary>
/// Reproduces tests/data/mlx-affine-quant/quant_vectors.safetensors bit for bit: rows of 128
/// values quantized at every bit width and group size under both kernel semantics.
/// </summary>
public sealed class MlxQuantizationVectorTests : IClassFixture<MlxQuantizationVectorTests.VectorFile>
{
    private const int Columns = 128;

    private static readonly string[] CaseNames =
        [.. from bits in new[] { 2, 3, 4, 5, 6, 8 } from groupSize in new[] { 32, 64, 128 } select $"b{bits}.g{groupSize}"];

    private readonly VectorFile _vectors;

    public MlxQuantizationVectorTests(VectorFile vectors) => _vectors = vectors;

    public static TheoryData<string, string, string, MlxQuantizerSemantics> Cases()
    {
        var data = new TheoryData<string, string, string, MlxQuantizerSemantics>();
        (string Set, string Input, MlxQuantizerSemantics Semantics)[] sets =
        [
            ("bf16", "input.bf16", MlxQuantizerSemantics.Cpu),
            ("bf16_gpu", "input.bf16", MlxQuantizerSemantics.Gpu),
            ("f32", "input.f32", MlxQuantizerSemantics.Cpu),
            ("f32_gpu", "input.f32", MlxQuantizerSemantics.Gpu),
            ("bf16_as_f32_gpu", "input.bf16_as_f32", MlxQuantizerSemantics.Gpu),
            ("negative_groups_cpu", "input.negative_groups", MlxQuantizerSemantics.Cpu),
            ("negative_groups_gpu", "input.negative_groups", MlxQuantizerSemantics.Gpu),
        ];
        foreach (var (set, input, semantics) in sets)
        {
            foreach (var name in CaseNames)
            {
                data.Add(set, name, input, semantics);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReproducesStoredTensors(string set, string caseName, string input, MlxQuantizerSemantics semantics)
    {
        var file = _vectors.File;
        var parameters = ParseCase(caseName);
        var quantizer = new MlxAffineQuantizer(parameters, semantics);
        var sourceInfo = file.GetInfo(input);
        var sourceType = ToElementType(sourceInfo.DType);
        var scaleType = ToElementType(file.GetInfo($"{set}.{caseName}.scales").DType);
        int rows = (int)sourceInfo.Shape[0];
        var packed = new uint[rows * quantizer.PackedColumns(Columns)];
        var scales = new byte[rows * quantizer.GroupColumns(Columns) * scaleType.Size()];
        var biases = new byte[scales.Length];

        quantizer.QuantizeRows(file.GetBytes(sourceInfo), sourceType, Columns, packed, scales, biases, scaleType);

        Assert.Equal(file.GetSpan<uint>($"{set}.{caseName}.weight").ToArray(), packed);
        Assert.Equal(file.GetBytes($"{set}.{caseName}.scales").ToArray(), scales);
        Assert.Equal(file.GetBytes($"{set}.{caseName}.biases").ToArray(), biases);
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void CodesAndDequantization(string set, string caseName, string input, MlxQuantizerSemantics semantics)
    {
        _ = input;
        _ = semantics;
        var file = _vectors.File;
        var parameters = ParseCase(caseName);
        var packed = file.GetSpan<uint>($"{set}.{caseName}.weight");
        int rows = packed.Length / (Columns / 32 * parameters.Bits);

        if (file.Contains($"{set}.{caseName}.codes"))
        {
            var expected = file.GetSpan<uint>($"{set}.{caseName}.codes");
            int wordsPerRow = Columns / 32 * parameters.Bits;
            var codes = new byte[Columns];
            for (int row = 0; row < rows; row++)
            {
                MlxPacking.Unpack(packed.Slice(row * wordsPerRow, wordsPerRow), parameters.Bits, codes);
                Assert.Equal(expected.Slice(row * Columns, Columns).ToArray(), codes.Select(c => (uint)c));
            }
        }

        if (file.Contains($"{set}.{caseName}.dequant"))
        {
            var scaleInfo = file.GetInfo($"{set}.{caseName}.scales");
            var values = new float[rows * Columns];
            MlxAffineQuantizer.DequantizeRows(
                packed, file.GetBytes(scaleInfo), file.GetBytes($"{set}.{caseName}.biases"), ToElementType(scaleInfo.DType), Columns, parameters, values);

            var expected = file.GetSpan<uint>($"{set}.{caseName}.dequant").ToArray();
            Assert.Equal(expected, values.Select(BitConverter.SingleToUInt32Bits));
        }
    }

    [Theory]
    [MemberData(nameof(CaseNameData))]
    public void FloatSourceMatchesExportSemantics(string caseName)
    {
        // The Waldwicht export: the bf16 input widened to float32, GPU rules, float32 scales.
        var file = _vectors.File;
        var quantizer = new MlxAffineQuantizer(ParseCase(caseName), MlxQuantizerSemantics.Gpu);
        var source = file.GetSpan<float>("input.bf16_as_f32");
        int rows = source.Length / Columns;
        var packed = new uint[rows * quantizer.PackedColumns(Columns)];
        var scales = new float[rows * quantizer.GroupColumns(Columns)];
        var biases = new float[scales.Length];

        quantizer.QuantizeRows(source, Columns, packed, scales, biases);

        Assert.Equal(file.GetSpan<uint>($"bf16_as_f32_gpu.{caseName}.weight").ToArray(), packed);
        Assert.Equal(file.GetSpan<float>($"bf16_as_f32_gpu.{caseName}.scales").ToArray(), scales);
        Assert.Equal(file.GetSpan<float>($"bf16_as_f32_gpu.{caseName}.biases").ToArray(), biases);

        // Codes come from the unrounded float32 scale, so they equal the bf16 GPU set's codes.
        Assert.Equal(file.GetSpan<uint>($"bf16_gpu.{caseName}.weight").ToArray(), packed);
    }

    [Theory]
    [MemberData(nameof(CaseNameData))]
    public void RowByRowEqualsWholeBlock(string caseName)
    {
        var file = _vectors.File;
        var quantizer = new MlxAffineQuantizer(ParseCase(caseName), MlxQuantizerSemantics.Cpu);
        var source = file.GetBytes("input.bf16");
        int rows = source.Length / (Columns * 2);
        int words = quantizer.PackedColumns(Columns);
        int groups = quantizer.GroupColumns(Columns);
        var packed = new uint[rows * words];
        var scales = new byte[rows * groups * 2];
        var biases = new byte[scales.Length];

        for (int row = 0; row < rows; row++)
        {
            quantizer.QuantizeRows(
                source.Slice(row * Columns * 2, Columns * 2),
                ElementType.BF16,
                Columns,
                packed.AsSpan(row * words, words),
                scales.AsSpan(row * groups * 2, groups * 2),
                biases.AsSpan(row * groups * 2, groups * 2),
                ElementType.BF16);
        }

        Assert.Equal(file.GetSpan<uint>($"bf16.{caseName}.weight").ToArray(), packed);
        Assert.Equal(file.GetBytes($"bf16.{caseName}.scales").ToArray(), scales);
        Assert.Equal(file.GetBytes($"bf16.{caseName}.biases").ToArray(), biases);
    }

    [Theory]
    [MemberData(nameof(CaseNameData))]
    public void TieAndDifferenceCounts(string caseName)
    {
        var expected = _vectors.Counts.GetProperty(caseName);
        var file = _vectors.File;
        var parameters = ParseCase(caseName);
        var bf16 = file.GetSpan<float>("input.bf16_as_f32").ToArray();
        var f32 = file.GetSpan<float>("input.f32").ToArray();
        var negative = file.GetSpan<float>("input.negative_groups").ToArray();

        Assert.Equal(expected.GetProperty("bf16_exact_ties_cpu").GetInt32(), CountTies(bf16, parameters));
        Assert.Equal(expected.GetProperty("f32_exact_ties").GetInt32(), CountTies(f32, parameters));

        var bf16Cpu = Quantize(bf16, parameters, MlxQuantizerSemantics.Cpu, ElementType.BF16);
        var bf16Gpu = Quantize(bf16, parameters, MlxQuantizerSemantics.Gpu, ElementType.BF16);
        Assert.Equal(expected.GetProperty("bf16_codes_differing_gpu_vs_cpu").GetInt32(), CountDifferences(bf16Cpu.Codes, bf16Gpu.Codes));
        Assert.Equal(expected.GetProperty("bf16_scales_differing_gpu_vs_cpu").GetInt32(), CountDifferences(bf16Cpu.Scales, bf16Gpu.Scales));

        var f32Cpu = Quantize(f32, parameters, MlxQuantizerSemantics.Cpu, ElementType.F32);
        var f32Gpu = Quantize(f32, parameters, MlxQuantizerSemantics.Gpu, ElementType.F32);
        Assert.Equal(expected.GetProperty("f32_codes_differing_gpu_vs_cpu").GetInt32(), CountDifferences(f32Cpu.Codes, f32Gpu.Codes));

        int allNegative = negative.Chunk(parameters.GroupSize).Count(group => group.Max() < 0);
        Assert.Equal(expected.GetProperty("negative_groups_all_negative_groups").GetInt32(), allNegative);
        var negativeCpu = Quantize(negative, parameters, MlxQuantizerSemantics.Cpu, ElementType.F32);
        var negativeGpu = Quantize(negative, parameters, MlxQuantizerSemantics.Gpu, ElementType.F32);
        Assert.Equal(expected.GetProperty("negative_groups_codes_differing_gpu_vs_cpu").GetInt32(), CountDifferences(negativeCpu.Codes, negativeGpu.Codes));
        Assert.Equal(expected.GetProperty("negative_groups_scales_differing_gpu_vs_cpu").GetInt32(), CountDifferences(negativeCpu.Scales, negativeGpu.Scales));
    }

    [Fact]
    public void VectorFileCoversEveryCase()
    {
        var file = _vectors.File;
        foreach (var set in new[] { "bf16", "bf16_gpu", "f32", "f32_gpu", "bf16_as_f32_gpu", "negative_groups_cpu", "negative_groups_gpu" })
        {
            foreach (var name in CaseNames)
            {
                Assert.True(file.Contains($"{set}.{name}.weight"), $"{set}.{name}.weight is missing.");
            }
        }

        Assert.Equal(CaseNames.Order(), _vectors.Counts.EnumerateObject().Select(p => p.Name).Order());
    }

    public static TheoryData<string> CaseNameData() => new(CaseNames);

    internal static QuantizationParameters ParseCase(string caseName)
    {
        var parts = caseName.Split('.');
        return new QuantizationParameters(int.Parse(parts[0][1..]), int.Parse(parts[1][1..]));
    }

    internal static ElementType ToElementType(SafetensorsDType dtype) => dtype switch
    {
        SafetensorsDType.F32 => ElementType.F32,
        SafetensorsDType.BF16 => ElementType.BF16,
        SafetensorsDType.F16 => ElementType.F16,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Not a float type."),
    };

    // Exact half-way quotients (x − bias) / scale under the CPU rules. A tie above the top code
    // is clamped to it under either rule, so it is not counted.
    private static int CountTies(float[] values, QuantizationParameters parameters)
    {
        var quantizer = new MlxAffineQuantizer(parameters, MlxQuantizerSemantics.Cpu);
        float maxCode = (1 << parameters.Bits) - 1;
        int ties = 0;
        foreach (var group in values.Chunk(parameters.GroupSize))
        {
            var affine = quantizer.ComputeGroup(group);
            foreach (float x in group)
            {
                float quotient = (x - affine.Bias) / affine.Scale;
                if (quotient - MathF.Floor(quotient) == 0.5f && quotient < maxCode)
                {
                    ties++;
                }
            }
        }

        return ties;
    }

    // Returns the codes and the bit patterns of the stored scales, one element per group.
    private static (byte[] Codes, uint[] Scales) Quantize(float[] values, QuantizationParameters parameters, MlxQuantizerSemantics semantics, ElementType scaleType)
    {
        var quantizer = new MlxAffineQuantizer(parameters, semantics);
        int rows = values.Length / Columns;
        var packed = new uint[rows * quantizer.PackedColumns(Columns)];
        var scales = new byte[rows * quantizer.GroupColumns(Columns) * scaleType.Size()];
        var biases = new byte[scales.Length];
        quantizer.QuantizeRows(values, Columns, packed, scales, biases, scaleType);
        var codes = new byte[values.Length];
        MlxPacking.Unpack(packed, parameters.Bits, codes);
        uint[] scaleBits = scaleType == ElementType.F32
            ? [.. MemoryMarshal.Cast<byte, uint>(scales)]
            : [.. MemoryMarshal.Cast<byte, ushort>(scales).ToArray().Select(b => (uint)b)];
        return (codes, scaleBits);
    }

    private static int CountDifferences<T>(T[] first, T[] second)
        where T : IEquatable<T> => first.Zip(second).Count(p => !p.First.Equals(p.Second));

    /// <summary>The vector file and its JSON description, opened once for all tests.</summary>
    public sealed class VectorFile : IDisposable
    {
        private readonly JsonDocument _description;

        public VectorFile()
        {
            File = SafetensorsFile.Open(TestData.Path("mlx-affine-quant", "quant_vectors.safetensors"));
            _description = JsonDocument.Parse(System.IO.File.ReadAllBytes(TestData.Path("mlx-affine-quant", "quant_vectors.json")));
        }

        public SafetensorsFile File { get; }

        public JsonElement Counts => _description.RootElement.GetProperty("cases");

        public void Dispose()
        {
            File.Dispose();
            _description.Dispose();
        }
    }
}
