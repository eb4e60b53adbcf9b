using System.Buffers.Binary;
using Waldwicht.Formats.Gguf;

namespace Waldwicht.Gguf.Tests;

public sealed class GgmlQuantizationTests
{
    [Theory]
    [InlineData(GgmlType.F32, 1, 4)]
    [InlineData(GgmlType.F16, 1, 2)]
    [InlineData(GgmlType.Q4_0, 32, 18)]
    [InlineData(GgmlType.Q4_1, 32, 20)]
    [InlineData(GgmlType.Q5_0, 32, 22)]
    [InlineData(GgmlType.Q5_1, 32, 24)]
    [InlineData(GgmlType.Q8_0, 32, 34)]
    public void BlockGeometry_MatchesGgml(GgmlType type, int blockSize, int blockBytes)
    {
        Assert.Equal(blockSize, type.BlockSize());
        Assert.Equal(blockBytes, type.BlockBytes());
        Assert.Equal(blockBytes * (64 / blockSize), type.RowBytes(64));
    }

    [Fact]
    public void Q8_0_HandComputedBlock()
    {
        // max |x| = 127, so d = 1 and the codes are round(x) with ties away from zero.
        var x = new float[32];
        float[] head = [127f, -127f, 0.5f, -0.5f, 1.49f, 2.5f, -2.5f, 3.7f];
        head.CopyTo(x, 0);
        var block = new byte[34];

        GgmlQuantization.Quantize(GgmlType.Q8_0, x, block);

        Assert.Equal([0x00, 0x3C], block[..2]);
        Assert.Equal(new sbyte[] { 127, -127, 1, -1, 1, 3, -3, 4 }, block[2..10].Select(b => (sbyte)b));
        Assert.All(block[10..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void Q4_0_HandComputedBlock()
    {
        // The largest magnitude is −8, so d = −8 / −8 = 1 and q = min(15, trunc(x + 8.5)).
        var x = new float[32];
        x[0] = -8f;
        x[1] = 7.6f;
        x[2] = 0.49f;
        x[3] = 0.5f;
        x[16] = -3.6f;
        x[17] = 7.4f;
        x[18] = -0.5f;
        var block = new byte[18];

        GgmlQuantization.Quantize(GgmlType.Q4_0, x, block);

        byte[] expected = [0x00, 0x3C, 0x40, 0xFF, 0x88, 0x89, .. Enumerable.Repeat((byte)0x88, 12)];
        Assert.Equal(expected, block);
        var decoded = new float[32];
        GgmlQuantization.Dequantize(GgmlType.Q4_0, block, decoded);
        Assert.Equal([-8f, 7f, 0f, 1f], decoded[..4]);
        Assert.Equal([-4f, 7f, 0f], decoded[16..19]);
    }

    [Fact]
    public void Q4_0_PositiveMaximumGivesNegativeScale()
    {
        var x = new float[32];
        x[5] = 8f;
        x[6] = -8f;
        var block = new byte[18];

        GgmlQuantization.Quantize(GgmlType.Q4_0, x, block);

        Assert.Equal(-1f, (float)BinaryPrimitives.ReadHalfLittleEndian(block));
        var decoded = new float[32];
        GgmlQuantization.Dequantize(GgmlType.Q4_0, block, decoded);
        Assert.Equal(8f, decoded[5]);
        Assert.Equal(-7f, decoded[6]);
    }

    [Fact]
    public void Q5_0_HandComputedBlock()
    {
        // d = −16 / −16 = 1 and q = min(31, trunc(x + 16.5)); bit 4 of each code goes to qh.
        var x = new float[32];
        x[0] = -16f;
        x[1] = 15.6f;
        x[2] = 1f;
        x[3] = -1f;
        x[16] = 0.5f;
        x[17] = -15.9f;
        var block = new byte[22];

        GgmlQuantization.Quantize(GgmlType.Q5_0, x, block);

        byte[] expected = [0x00, 0x3C, 0xF6, 0xFF, 0xFD, 0xFF, 0x10, 0x0F, 0x01, 0x0F, .. new byte[12]];
        Assert.Equal(expected, block);
        var decoded = new float[32];
        GgmlQuantization.Dequantize(GgmlType.Q5_0, block, decoded);
        Assert.Equal([-16f, 15f, 1f, -1f, 0f], decoded[..5]);
        Assert.Equal([1f, -16f, 0f], decoded[16..19]);
    }

    [Fact]
    public void Q4_1_HandComputedBlock()
    {
        // min = −3 and max = 12, so d = 15 / 15 = 1 and q = min(15, trunc(x + 3 + 0.5)); the zeros get code 3.
        var x = new float[32];
        x[0] = -3f;
        x[1] = 12f;
        x[2] = 0.49f;
        x[3] = 0.5f;
        x[16] = -2.6f;
        x[17] = 11.6f;
        var block = new byte[20];

        GgmlQuantization.Quantize(GgmlType.Q4_1, x, block);

        byte[] expected = [0x00, 0x3C, 0x00, 0xC2, 0x00, 0xFF, 0x33, 0x34, .. Enumerable.Repeat((byte)0x33, 12)];
        Assert.Equal(expected, block);
        var decoded = new float[32];
        GgmlQuantization.Dequantize(GgmlType.Q4_1, block, decoded);
        Assert.Equal([-3f, 12f, 0f, 1f], decoded[..4]);
        Assert.Equal([-3f, 12f, 0f], decoded[16..19]);
    }

    [Fact]
    public void Q5_1_HandComputedBlock()
    {
        // min = −1 and max = 30, so d = 31 / 31 = 1 and q = trunc(x + 1 + 0.5); bit 4 of each code goes to qh.
        var x = new float[32];
        x[0] = -1f;
        x[1] = 30f;
        x[2] = 15.2f;
        x[3] = 14.49f;
        x[16] = 16.5f;
        x[17] = -0.6f;
        var block = new byte[24];

        GgmlQuantization.Quantize(GgmlType.Q5_1, x, block);

        byte[] expected = [0x00, 0x3C, 0x00, 0xBC, 0x06, 0x00, 0x01, 0x00, 0x20, 0x0F, 0x10, 0x1F, .. Enumerable.Repeat((byte)0x11, 12)];
        Assert.Equal(expected, block);
        var decoded = new float[32];
        GgmlQuantization.Dequantize(GgmlType.Q5_1, block, decoded);
        Assert.Equal([-1f, 30f, 15f, 14f], decoded[..4]);
        Assert.Equal([17f, -1f, 0f], decoded[16..19]);
    }

    [Theory]
    [InlineData(GgmlType.Q4_1, 15)]
    [InlineData(GgmlType.Q5_1, 31)]
    public void EncodeBlockWithMinimum_DecodesToCodes(GgmlType type, int maxCode)
    {
        var codes = Enumerable.Range(0, 32).Select(j => (byte)(j * 7 % (maxCode + 1))).ToArray();
        var block = new byte[type.BlockBytes()];

        GgmlQuantization.EncodeBlockWithMinimum(type, codes, 0.5f, -2f, block);

        Assert.Equal((Half)0.5f, BinaryPrimitives.ReadHalfLittleEndian(block));
        Assert.Equal((Half)(-2f), BinaryPrimitives.ReadHalfLittleEndian(block.AsSpan(2)));
        var decoded = new float[32];
        GgmlQuantization.Dequantize(type, block, decoded);
        Assert.Equal(codes.Select(q => (q * 0.5f) - 2f), decoded);
    }

    [Fact]
    public void EncodeBlockWithMinimum_RejectsInvalidInput()
    {
        var codes = new byte[32];
        Assert.Throws<ArgumentException>(() => GgmlQuantization.EncodeBlockWithMinimum(GgmlType.Q4_0, codes, 1f, 0f, new byte[18]));
        Assert.Throws<ArgumentException>(() => GgmlQuantization.EncodeBlockWithMinimum(GgmlType.Q4_1, new byte[31], 1f, 0f, new byte[20]));
        Assert.Throws<ArgumentException>(() => GgmlQuantization.EncodeBlockWithMinimum(GgmlType.Q4_1, codes, 1f, 0f, new byte[24]));

        codes[5] = 16;
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => GgmlQuantization.EncodeBlockWithMinimum(GgmlType.Q4_1, codes, 1f, 0f, new byte[20]));
        Assert.Contains("Code 5", error.Message);
        GgmlQuantization.EncodeBlockWithMinimum(GgmlType.Q5_1, codes, 1f, 0f, new byte[24]);
    }

    [Theory]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_1)]
    public void ConstantBlock_StoresTheValueAsMinimum(GgmlType type)
    {
        var x = Enumerable.Repeat(2.5f, 32).ToArray();
        var block = new byte[type.BlockBytes()];

        GgmlQuantization.Quantize(type, x, block);

        Assert.Equal(0f, (float)BinaryPrimitives.ReadHalfLittleEndian(block));
        Assert.Equal(2.5f, (float)BinaryPrimitives.ReadHalfLittleEndian(block.AsSpan(2)));
        var decoded = new float[32];
        GgmlQuantization.Dequantize(type, block, decoded);
        Assert.All(decoded, v => Assert.Equal(2.5f, v));
    }

    [Fact]
    public void ZeroBlock_HasZeroScaleAndDecodesToZero()
    {
        // ggml computes d = 0 / −8 = −0 for Q4_0 and Q5_0, so the stored scale may be negative zero.
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0 })
        {
            var block = new byte[type.BlockBytes()];
            GgmlQuantization.Quantize(type, new float[32], block);
            var decoded = new float[32];
            GgmlQuantization.Dequantize(type, block, decoded);
            Assert.Equal(0f, Math.Abs((float)BinaryPrimitives.ReadHalfLittleEndian(block)));
            Assert.All(decoded, v => Assert.Equal(0f, v));
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, 8, 1.0)]
    [InlineData(GgmlType.Q5_0, 16, 1.0)]
    [InlineData(GgmlType.Q8_0, 127, 0.5)]
    public void Dequantized_WithinErrorBound(GgmlType type, int codeRange, double stepsOfError)
    {
        // Per element: the rounding error (half a step, or a whole step where the positive end
        // clamps) plus the code times the error of storing d as binary16.
        var random = new Random(1234);
        const int Length = 32 * 64;
        var x = new float[Length];
        for (int i = 0; i < Length; i++)
        {
            x[i] = (float)(random.NextDouble() * 2 - 1) * (i % 3 == 0 ? 0.01f : 3f);
        }

        var bytes = new byte[type.RowBytes(Length)];
        GgmlQuantization.Quantize(type, x, bytes);
        var decoded = new float[Length];
        GgmlQuantization.Dequantize(type, bytes, decoded);

        for (int b = 0; b < Length / 32; b++)
        {
            var block = x.AsSpan(b * 32, 32);
            float amax = 0;
            foreach (float v in block)
            {
                amax = Math.Max(amax, Math.Abs(v));
            }

            double d = amax / codeRange;
            double d16 = Math.Abs((float)BinaryPrimitives.ReadHalfLittleEndian(bytes.AsSpan(b * type.BlockBytes())));
            double bound = (stepsOfError * d) + (codeRange * Math.Abs(d - d16)) + (1e-6 * amax);
            for (int j = 0; j < 32; j++)
            {
                double error = Math.Abs(x[(b * 32) + j] - decoded[(b * 32) + j]);
                Assert.True(error <= bound, $"{type} block {b} element {j}: error {error} exceeds {bound}.");
            }
        }
    }

    [Theory]
    [InlineData(GgmlType.Q4_1, 15)]
    [InlineData(GgmlType.Q5_1, 31)]
    public void DequantizedWithMinimum_WithinErrorBound(GgmlType type, int maxCode)
    {
        // Per element: half a step of rounding, the code times the error of storing d as binary16,
        // and the error of storing the minimum as binary16.
        var random = new Random(4321);
        const int Length = 32 * 64;
        var x = new float[Length];
        for (int i = 0; i < Length; i++)
        {
            x[i] = (float)random.NextDouble() * (i % 5 == 0 ? 0.02f : 4f) - (i % 7 == 0 ? 3f : 0.5f);
        }

        var bytes = new byte[type.RowBytes(Length)];
        GgmlQuantization.Quantize(type, x, bytes);
        var decoded = new float[Length];
        GgmlQuantization.Dequantize(type, bytes, decoded);

        for (int b = 0; b < Length / 32; b++)
        {
            var block = x.AsSpan(b * 32, 32);
            float min = float.MaxValue, max = float.MinValue;
            foreach (float v in block)
            {
                min = Math.Min(min, v);
                max = Math.Max(max, v);
            }

            double d = (max - min) / (double)maxCode;
            var stored = bytes.AsSpan(b * type.BlockBytes());
            double d16 = (float)BinaryPrimitives.ReadHalfLittleEndian(stored);
            double min16 = (float)BinaryPrimitives.ReadHalfLittleEndian(stored[2..]);
            double bound = (0.5 * d) + (maxCode * Math.Abs(d - d16)) + Math.Abs(min - min16) + (1e-6 * Math.Max(Math.Abs(min), Math.Abs(max)));
            for (int j = 0; j < 32; j++)
            {
                double error = Math.Abs(x[(b * 32) + j] - decoded[(b * 32) + j]);
                Assert.True(error <= bound, $"{type} block {b} element {j}: error {error} exceeds {bound}.");
            }
        }
    }

    [Fact]
    public void RmsError_DecreasesWithBits()
    {
        var random = new Random(7);
        var x = Enumerable.Range(0, 4096).Select(_ => (float)((random.NextDouble() + random.NextDouble() + random.NextDouble() - 1.5) * 0.1)).ToArray();
        double Rms(GgmlType type)
        {
            var bytes = new byte[type.RowBytes(x.Length)];
            GgmlQuantization.Quantize(type, x, bytes);
            var decoded = new float[x.Length];
            GgmlQuantization.Dequantize(type, bytes, decoded);
            return Math.Sqrt(x.Zip(decoded, (a, b) => (a - b) * (a - b)).Average());
        }

        double q4 = Rms(GgmlType.Q4_0), q5 = Rms(GgmlType.Q5_0), q8 = Rms(GgmlType.Q8_0), f16 = Rms(GgmlType.F16);
        Assert.True(q5 < q4 * 0.6, $"q5_0 {q5} vs q4_0 {q4}");
        double q4_1 = Rms(GgmlType.Q4_1), q5_1 = Rms(GgmlType.Q5_1);
        Assert.True(q5_1 < q4_1 * 0.6, $"q5_1 {q5_1} vs q4_1 {q4_1}");
        Assert.True(q5_1 < q4 * 0.6, $"q5_1 {q5_1} vs q4_0 {q4}");
        Assert.True(q8 < q5 * 0.2, $"q8_0 {q8} vs q5_0 {q5}");
        Assert.True(f16 < q8, $"f16 {f16} vs q8_0 {q8}");
    }

    [Fact]
    public void FloatTypes_RoundTrip()
    {
        float[] x = [0f, 1f, -2.5f, 65504f, 1e-8f, float.Epsilon, 3.14159265f];
        var f32 = new byte[x.Length * 4];
        GgmlQuantization.Quantize(GgmlType.F32, x, f32);
        var back = new float[x.Length];
        GgmlQuantization.Dequantize(GgmlType.F32, f32, back);
        Assert.Equal(x, back);

        var f16 = new byte[x.Length * 2];
        GgmlQuantization.Quantize(GgmlType.F16, x, f16);
        GgmlQuantization.Dequantize(GgmlType.F16, f16, back);
        Assert.Equal(x.Select(v => (float)(Half)v), back);
        Assert.Equal(0x3C00, BinaryPrimitives.ReadUInt16LittleEndian(f16.AsSpan(2)));
    }

    [Fact]
    public void Quantize_RejectsWrongLengths()
    {
        Assert.Throws<ArgumentException>(() => GgmlQuantization.Quantize(GgmlType.Q4_0, new float[48], new byte[27]));
        Assert.Throws<ArgumentException>(() => GgmlQuantization.Quantize(GgmlType.Q4_0, new float[32], new byte[17]));
        Assert.Throws<ArgumentException>(() => GgmlQuantization.Dequantize(GgmlType.Q8_0, new byte[34], new float[31]));
    }
}
