using Waldwicht.Formats.Mlx;
using Waldwicht.Numerics;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Formats.Tests;

public sealed class MlxAffineQuantizerTests
{
    private static readonly QuantizationParameters Q4G64 = new(4, 64);

    [Theory]
    [InlineData(MlxQuantizerSemantics.Cpu)]
    [InlineData(MlxQuantizerSemantics.Gpu)]
    public void AllZeroGroup(MlxQuantizerSemantics semantics)
    {
        var group = new MlxAffineQuantizer(Q4G64, semantics).QuantizeGroup(new float[64], new byte[64]);

        Assert.Equal(0xB3D6BF95u, BitConverter.SingleToUInt32Bits(group.Scale));
        Assert.Equal(0xB3D7, BFloat16.FromSingle(group.Scale));
        Assert.Equal(0u, BitConverter.SingleToUInt32Bits(group.Bias));
    }

    [Theory]
    [InlineData(MlxQuantizerSemantics.Cpu, 3e-8f)]
    [InlineData(MlxQuantizerSemantics.Gpu, -3e-8f)]
    public void TinyValuesHitStepFloor(MlxQuantizerSemantics semantics, float sign)
    {
        var values = Enumerable.Range(0, 64).Select(i => sign * (i % 3) / 2).ToArray();
        var codes = new byte[64];

        var group = new MlxAffineQuantizer(Q4G64, semantics).QuantizeGroup(values, codes);

        Assert.Equal(MlxAffineQuantizer.MinimumStep, MathF.Abs(group.Scale));
        Assert.Equal(0f, group.Bias);
        Assert.All(codes, c => Assert.Equal(0, c));
    }

    [Fact]
    public void ConstantNegativeGroupDiffersByKernel()
    {
        var values = Enumerable.Repeat(-0.25f, 64).ToArray();
        var codes = new byte[64];

        var cpu = new MlxAffineQuantizer(Q4G64, MlxQuantizerSemantics.Cpu).QuantizeGroup(values, codes);
        Assert.Equal(0xB3D6BF95u, BitConverter.SingleToUInt32Bits(cpu.Scale));
        Assert.Equal(-0.25f, cpu.Bias);
        Assert.All(codes, c => Assert.Equal(0, c));

        var gpu = new MlxAffineQuantizer(Q4G64, MlxQuantizerSemantics.Gpu).QuantizeGroup(values, codes);
        Assert.Equal(0x3C888889u, BitConverter.SingleToUInt32Bits(gpu.Scale));
        Assert.Equal(-0.25f, gpu.Bias);
        Assert.All(codes, c => Assert.Equal(0, c));
    }

    [Fact]
    public void AllPositiveGroupNotClampedAtZero()
    {
        // The GPU clamp only raises the maximum to 0; an all-positive group keeps its true minimum.
        var values = Enumerable.Range(0, 64).Select(i => 1f + (i / 64f)).ToArray();

        var cpu = new MlxAffineQuantizer(Q4G64, MlxQuantizerSemantics.Cpu).ComputeGroup(values);
        var gpu = new MlxAffineQuantizer(Q4G64, MlxQuantizerSemantics.Gpu).ComputeGroup(values);

        Assert.Equal(cpu, gpu);
        Assert.True(cpu.Scale < 0);
    }

    [Fact]
    public void HalfScalesRoundToNearest()
    {
        var quantizer = new MlxAffineQuantizer(Q4G64, MlxQuantizerSemantics.Cpu);
        var scales = new byte[2];
        var biases = new byte[2];

        quantizer.QuantizeRows(new float[64], 64, new uint[8], scales, biases, ElementType.F16);

        // −1e-7 is a subnormal in float16: the nearest value is −2·2^-24 (0x8002).
        Assert.Equal([0x02, 0x80], scales);
        Assert.Equal([0x00, 0x00], biases);
        Assert.Equal(-2 * MathF.Pow(2, -24), MlxAffineQuantizer.Load(scales, ElementType.F16));
    }

    [Theory]
    [InlineData(ElementType.F32)]
    [InlineData(ElementType.BF16)]
    [InlineData(ElementType.F16)]
    public void ScaleTypesUseSameCodes(ElementType scaleType)
    {
        var values = RandomRows(3, 128, seed: 7);
        var quantizer = new MlxAffineQuantizer(new QuantizationParameters(5, 32), MlxQuantizerSemantics.Gpu);
        var reference = new uint[3 * 20];
        var floatScales = new float[12];
        var floatBiases = new float[12];
        quantizer.QuantizeRows(values, 128, reference, floatScales, floatBiases);

        var packed = new uint[reference.Length];
        var scales = new byte[12 * scaleType.Size()];
        var biases = new byte[scales.Length];
        quantizer.QuantizeRows(values, 128, packed, scales, biases, scaleType);

        Assert.Equal(reference, packed);
        for (int g = 0; g < 12; g++)
        {
            var expected = new byte[scaleType.Size()];
            MlxAffineQuantizer.Store(floatScales[g], expected, scaleType);
            Assert.Equal(expected, scales.AsSpan(g * expected.Length, expected.Length).ToArray());
        }
    }

    [Theory]
    [InlineData(ElementType.BF16)]
    [InlineData(ElementType.F16)]
    [InlineData(ElementType.F32)]
    public void ByteSourceWidensExactly(ElementType sourceType)
    {
        var values = RandomRows(2, 64, seed: 3).Select(v => sourceType switch
        {
            ElementType.BF16 => BFloat16.Round(v),
            ElementType.F16 => (float)(Half)v,
            _ => v,
        }).ToArray();
        var source = new byte[values.Length * sourceType.Size()];
        for (int i = 0; i < values.Length; i++)
        {
            MlxAffineQuantizer.Store(values[i], source.AsSpan(i * sourceType.Size(), sourceType.Size()), sourceType);
        }

        var quantizer = new MlxAffineQuantizer(new QuantizationParameters(3, 64), MlxQuantizerSemantics.Cpu);
        var expectedPacked = new uint[2 * 6];
        var expectedScales = new byte[2 * 4];
        var expectedBiases = new byte[2 * 4];
        quantizer.QuantizeRows(values, 64, expectedPacked, expectedScales, expectedBiases, ElementType.F32);

        var packed = new uint[expectedPacked.Length];
        var scales = new byte[expectedScales.Length];
        var biases = new byte[expectedBiases.Length];
        quantizer.QuantizeRows(source, sourceType, 64, packed, scales, biases, ElementType.F32);

        Assert.Equal(expectedPacked, packed);
        Assert.Equal(expectedScales, scales);
        Assert.Equal(expectedBiases, biases);
    }

    [Fact]
    public void DequantizationErrorBoundedByScale()
    {
        foreach (int bits in QuantizationParameters.SupportedBits)
        {
            foreach (int groupSize in QuantizationParameters.SupportedGroupSizes)
            {
                var parameters = new QuantizationParameters(bits, groupSize);
                var values = RandomRows(4, 256, seed: bits * groupSize);
                var quantizer = new MlxAffineQuantizer(parameters, MlxQuantizerSemantics.Cpu);
                var packed = new uint[4 * quantizer.PackedColumns(256)];
                var scales = new float[4 * quantizer.GroupColumns(256)];
                var biases = new float[scales.Length];
                quantizer.QuantizeRows(values, 256, packed, scales, biases);
                var restored = new float[values.Length];
                MlxAffineQuantizer.DequantizeRows(packed, scales, biases, 256, parameters, restored);

                for (int i = 0; i < values.Length; i++)
                {
                    float bound = MathF.Abs(scales[i / groupSize]) + 1e-6f;
                    Assert.True(MathF.Abs(values[i] - restored[i]) <= bound, $"{parameters}, value {i}: {values[i]} restored as {restored[i]}.");
                }
            }
        }
    }

    [Fact]
    public void ConcurrentUseGivesSameResult()
    {
        var quantizer = new MlxAffineQuantizer(new QuantizationParameters(6, 128), MlxQuantizerSemantics.Gpu);
        var values = RandomRows(16, 256, seed: 11);
        var expected = new uint[16 * 48];
        quantizer.QuantizeRows(values, 256, expected, new float[32], new float[32]);

        var results = new uint[8][];
        Parallel.For(0, 8, t =>
        {
            var packed = new uint[expected.Length];
            for (int row = 0; row < 16; row++)
            {
                quantizer.QuantizeRows(values.AsSpan(row * 256, 256), 256, packed.AsSpan(row * 48, 48), new float[2], new float[2]);
            }

            results[t] = packed;
        });

        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void RowsAllocateNothing()
    {
        var quantizer = new MlxAffineQuantizer(new QuantizationParameters(3, 32), MlxQuantizerSemantics.Cpu);
        var values = RandomRows(64, 256, seed: 5);
        var source = new byte[values.Length * 2];
        var packed = new uint[64 * 24];
        var scales = new byte[64 * 8 * 2];
        var biases = new byte[scales.Length];
        var floatScales = new float[64 * 8];
        var floatBiases = new float[floatScales.Length];
        var restored = new float[values.Length];
        quantizer.QuantizeRows(source, ElementType.BF16, 256, packed, scales, biases, ElementType.BF16);
        quantizer.QuantizeRows(values, 256, packed, floatScales, floatBiases);
        MlxAffineQuantizer.DequantizeRows(packed, scales, biases, ElementType.BF16, 256, quantizer.Parameters, restored);

        long before = GC.GetAllocatedBytesForCurrentThread();
        quantizer.QuantizeRows(source, ElementType.BF16, 256, packed, scales, biases, ElementType.BF16);
        quantizer.QuantizeRows(values, 256, packed, floatScales, floatBiases);
        MlxAffineQuantizer.DequantizeRows(packed, scales, biases, ElementType.BF16, 256, quantizer.Parameters, restored);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData(1536, 5, 64, 240, 24)]
    [InlineData(12288, 4, 64, 1536, 192)]
    [InlineData(8960, 3, 64, 840, 140)]
    [InlineData(256, 4, 64, 32, 4)]
    [InlineData(96, 3, 32, 9, 3)]
    public void PackedShapes(int columns, int bits, int groupSize, int packedColumns, int groupColumns)
    {
        var quantizer = new MlxAffineQuantizer(new QuantizationParameters(bits, groupSize), MlxQuantizerSemantics.Cpu);

        Assert.Equal(packedColumns, quantizer.PackedColumns(columns));
        Assert.Equal(groupColumns, quantizer.GroupColumns(columns));
    }

    [Theory]
    [InlineData(96, 64)]
    [InlineData(96, 128)]
    [InlineData(0, 32)]
    public void RowLengthNotMultipleOfGroup(int columns, int groupSize)
    {
        var quantizer = new MlxAffineQuantizer(new QuantizationParameters(4, groupSize), MlxQuantizerSemantics.Cpu);

        var error = Assert.Throws<ArgumentException>(() => quantizer.PackedColumns(columns));

        Assert.StartsWith(
            $"Rows of {columns} values cannot be quantized with group size {groupSize}; the row length must be a positive multiple of the group size.",
            error.Message);
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(7, 64)]
    [InlineData(4, 16)]
    [InlineData(4, 256)]
    public void UnsupportedParameters(int bits, int groupSize)
    {
        var error = Assert.Throws<ArgumentException>(() => new MlxAffineQuantizer(new QuantizationParameters(bits, groupSize), MlxQuantizerSemantics.Cpu));

        Assert.StartsWith(
            $"{bits}-bit g{groupSize} is not supported by MLX affine quantization; bits must be 2, 3, 4, 5, 6 or 8 and the group size 32, 64 or 128.",
            error.Message);
    }

    [Fact]
    public void SpanLengthsChecked()
    {
        var quantizer = new MlxAffineQuantizer(Q4G64, MlxQuantizerSemantics.Cpu);

        var partialRow = Assert.Throws<ArgumentException>(() => quantizer.QuantizeRows(new float[100], 64, new uint[8], new float[1], new float[1]));
        Assert.Equal("100 values are no whole number of rows of 64.", partialRow.Message);

        var packed = Assert.Throws<ArgumentException>(() => quantizer.QuantizeRows(new float[128], 64, new uint[8], new float[2], new float[2]));
        Assert.Equal("2 rows of 64 values at 4-bit g64 need 16 packed words, but the packed span has 8.", packed.Message);

        var scales = Assert.Throws<ArgumentException>(() => quantizer.QuantizeRows(new float[128], 64, new uint[16], new byte[4], new byte[2], ElementType.BF16));
        Assert.Equal(
            "2 rows of 64 values at 4-bit g64 have 2 groups, so scales and biases need 4 bytes each, but the spans have 4 and 2.", scales.Message);

        var source = Assert.Throws<ArgumentException>(
            () => quantizer.QuantizeRows(new byte[127], ElementType.BF16, 64, new uint[8], new byte[2], new byte[2], ElementType.BF16));
        Assert.StartsWith("The source has 127 bytes, which is no whole number of BF16 values.", source.Message);

        var group = Assert.Throws<ArgumentException>(() => quantizer.ComputeGroup(new float[32]));
        Assert.Equal("A group has 64 values, but 32 were given.", group.Message);
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void NonFiniteValuesRejected(float bad)
    {
        var quantizer = new MlxAffineQuantizer(Q4G64, MlxQuantizerSemantics.Gpu);
        var values = new float[3 * 128];
        values[(2 * 128) + 70] = bad;

        var error = Assert.Throws<ArgumentException>(() => quantizer.QuantizeRows(values, 128, new uint[48], new float[6], new float[6]));

        Assert.Equal(
            "The group of 64 values starting at row 2, column 64 of this block contains NaN or infinity; only finite weights can be quantized.",
            error.Message);
    }

    [Fact]
    public void RangeTooWideRejected()
    {
        var values = new float[64];
        values[0] = float.MaxValue;
        values[1] = -float.MaxValue;

        var error = Assert.Throws<ArgumentException>(() => new MlxAffineQuantizer(Q4G64, MlxQuantizerSemantics.Cpu).ComputeGroup(values));

        Assert.StartsWith("The group of 64 values starting at row 0, column 0 of this block spans [", error.Message);
    }

    [Fact]
    public void StoreAndLoadRoundTrip()
    {
        var buffer = new byte[4];
        foreach (var (type, value, expected) in new[] { (ElementType.F32, 0.1f, 0.1f), (ElementType.BF16, 1.00390625f, 1f), (ElementType.F16, 1.00048828125f, 1f) })
        {
            MlxAffineQuantizer.Store(value, buffer, type);
            Assert.Equal(expected, MlxAffineQuantizer.Load(buffer, type));
        }
    }

    private static float[] RandomRows(int rows, int columns, int seed)
    {
        var random = new Random(seed);
        var values = new float[rows * columns];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = (float)((random.NextDouble() * 2) - 0.8) * 0.05f;
        }

        return values;
    }
}
