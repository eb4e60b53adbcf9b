using System.Runtime.Intrinsics;
using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Tests;

public sealed unsafe class ElementKernelTests
{
    public static TheoryData<string> Paths()
    {
        var data = new TheoryData<string>();
        foreach (var path in TestPaths.Tested)
        {
            data.Add(path);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void ToSingle_ConvertsEveryHalfExactly(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        var bits = new ushort[65536 + 5];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)i;
        }

        var result = new float[bits.Length];
        fixed (ushort* source = bits)
        fixed (float* destination = result)
        {
            ElementKernels.ToSingle(source, ElementType.F16, 0, destination, bits.Length, path);
        }

        for (int i = 0; i < bits.Length; i++)
        {
            float expected = (float)BitConverter.UInt16BitsToHalf(bits[i]);
            if (float.IsNaN(expected))
            {
                Assert.True(float.IsNaN(result[i]), $"0x{bits[i]:X4} must convert to NaN, got {result[i]}.");
            }
            else
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(result[i]));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void ToSingle_ConvertsEveryBFloat16Exactly(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        var bits = new ushort[65536 + 3];
        for (int i = 0; i < bits.Length; i++)
        {
            bits[i] = (ushort)(i * 7);
        }

        var result = new float[bits.Length];
        fixed (ushort* source = bits)
        fixed (float* destination = result)
        {
            ElementKernels.ToSingle(source, ElementType.BF16, 1, destination, bits.Length - 1, path);
        }

        for (int i = 0; i < bits.Length - 1; i++)
        {
            Assert.Equal(bits[i + 1] << 16, BitConverter.SingleToInt32Bits(result[i]));
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void Dot_MatchesFloat64ForEveryLength(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        for (int length = 0; length <= 150; length++)
        {
            var a = TestVectors.Random(length, length);
            var b = TestVectors.Random(length, length + 1000);
            double expected = 0;
            double magnitude = 0;
            for (int i = 0; i < length; i++)
            {
                expected += (double)a[i] * b[i];
                magnitude += Math.Abs((double)a[i] * b[i]);
            }

            float actual;
            fixed (float* pa = a, pb = b)
            {
                actual = ElementKernels.Dot(pa, pb, length, path);
            }

            TestPaths.AssertClose(expected, actual, 1e-6 * magnitude, $"length {length}");
        }
    }

    [Fact]
    public void VariableShiftFallback_MatchesScalarShifts()
    {
        var words = Vector128.Create(0xDEADBEEFu, 0x80000001u, 0xFFFFFFFFu, 0x12345678u);
        uint[] counts = [0, 31, 32, 7];
        fixed (uint* c = counts)
        {
            var right = VariableShiftFallback.ShiftRight(words, c);
            var left = VariableShiftFallback.ShiftLeft(words, c);
            for (int i = 0; i < 4; i++)
            {
                uint word = words.GetElement(i);
                Assert.Equal(counts[i] >= 32 ? 0 : word >> (int)counts[i], right.GetElement(i));
                Assert.Equal(counts[i] >= 32 ? 0 : word << (int)counts[i], left.GetElement(i));
            }
        }
    }
}
