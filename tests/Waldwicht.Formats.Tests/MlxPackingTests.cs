using System.Runtime.InteropServices;
using System.Text.Json;
using Waldwicht.Formats.Mlx;
using Waldwicht.Tests;

namespace Waldwicht.Formats.Tests;

public sealed class MlxPackingTests
{
    [Theory]
    [InlineData(3, "1 2 3 4 5 6 7 0", "D1 58 1F")]
    [InlineData(3, "0 1 2 3 4 5 6 7", "88 C6 FA")]
    [InlineData(5, "31 0 17 5 9 30 2 21", "1F C4 92 BC A8")]
    [InlineData(6, "63 1 42 7", "7F A0 1E")]
    [InlineData(4, "1 2 3 4 5 6 7 8", "21 43 65 87")]
    [InlineData(2, "0 1 2 3 0 1 2 3 0 1 2 3 0 1 2 3", "E4 E4 E4 E4")]
    [InlineData(8, "1 2 254 255", "01 02 FE FF")]
    public void HandExamples(int bits, string codes, string bytes)
    {
        AssertPacks(bits, Parse(codes), Convert.FromHexString(bytes.Replace(" ", "")));
    }

    [Fact]
    public void ThreeBitCodesStraddleWords()
    {
        byte[] codes = [.. Enumerable.Repeat<byte[]>([0, 1, 2, 3, 4, 5, 6, 7], 4).SelectMany(c => c)];
        var words = new uint[3];

        MlxPacking.Pack(codes, 3, words);

        Assert.Equal([0x88FAC688u, 0xC688FAC6u, 0xFAC688FAu], words);
        Assert.Equal(2, MlxPacking.GetCode(words, 3, 10));
        Assert.Equal(5, MlxPacking.GetCode(words, 3, 21));
    }

    [Fact]
    public void PackingExamplesFromVectorFile()
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(TestData.Path("mlx-affine-quant", "hand-derived-vectors.json")));
        int count = 0;
        foreach (var example in document.RootElement.GetProperty("packing_examples").EnumerateArray())
        {
            int bits = example.GetProperty("bits").GetInt32();
            byte[] codes = [.. example.GetProperty("codes").EnumerateArray().Select(c => (byte)c.GetInt32())];
            byte[] bytes = Convert.FromHexString(example.GetProperty("bytes").GetString()!.Replace(" ", ""));
            AssertPacks(bits, codes, bytes);
            count++;
        }

        Assert.Equal(8, count);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(8)]
    public void RoundTripAgainstBitStream(int bits)
    {
        var random = new Random(bits);
        foreach (int count in new[] { 0, 1, 7, 31, 32, 33, 64, 100, 128 })
        {
            var codes = new byte[count];
            for (int i = 0; i < count; i++)
            {
                codes[i] = (byte)random.Next(1 << bits);
            }

            var words = new uint[MlxPacking.WordCount(count, bits)];
            MlxPacking.Pack(codes, bits, words);

            // Independent reference: set bit i·bits + k of the byte stream for every code bit k.
            var expected = new byte[words.Length * 4];
            for (int i = 0; i < count; i++)
            {
                for (int k = 0; k < bits; k++)
                {
                    if (((codes[i] >> k) & 1) != 0)
                    {
                        int bit = (i * bits) + k;
                        expected[bit / 8] |= (byte)(1 << (bit % 8));
                    }
                }
            }

            Assert.Equal(expected, MemoryMarshal.AsBytes(words.AsSpan()).ToArray());
            var unpacked = new byte[count];
            MlxPacking.Unpack(words, bits, unpacked);
            Assert.Equal(codes, unpacked);
            for (int i = 0; i < count; i++)
            {
                Assert.Equal(codes[i], MlxPacking.GetCode(words, bits, i));
            }
        }
    }

    [Theory]
    [InlineData(64, 2, 4)]
    [InlineData(64, 3, 6)]
    [InlineData(64, 5, 10)]
    [InlineData(64, 6, 12)]
    [InlineData(32, 3, 3)]
    [InlineData(8, 3, 1)]
    [InlineData(0, 8, 0)]
    public void WordCounts(int count, int bits, int words)
    {
        Assert.Equal(words, MlxPacking.WordCount(count, bits));
    }

    [Fact]
    public void CodeTooLarge()
    {
        var error = Assert.Throws<ArgumentException>(() => MlxPacking.Pack([1, 8], 3, new uint[1]));

        Assert.StartsWith("Code 8 at index 1 does not fit in 3 bits (maximum 7).", error.Message);
    }

    [Fact]
    public void WrongWordCount()
    {
        var error = Assert.Throws<ArgumentException>(() => MlxPacking.Pack(new byte[32], 3, new uint[2]));

        Assert.StartsWith("32 codes of 3 bits need 3 words, but the destination has 2.", error.Message);
        var unpackError = Assert.Throws<ArgumentException>(() => MlxPacking.Unpack(new uint[2], 5, new byte[32]));
        Assert.StartsWith("32 codes of 5 bits are stored in 5 words, but the source has 2.", unpackError.Message);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(9)]
    public void UnsupportedBits(int bits)
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => MlxPacking.WordCount(8, bits));

        Assert.StartsWith("MLX affine codes have 2, 3, 4, 5, 6 or 8 bits.", error.Message);
    }

    [Fact]
    public void CodeBeyondWords()
    {
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => MlxPacking.GetCode(new uint[3], 3, 32));

        Assert.StartsWith("Code 32 of 3 bits lies beyond the 3 packed words.", error.Message);
    }

    private static void AssertPacks(int bits, byte[] codes, byte[] bytes)
    {
        var words = new uint[MlxPacking.WordCount(codes.Length, bits)];
        MlxPacking.Pack(codes, bits, words);
        var packed = MemoryMarshal.AsBytes(words.AsSpan()).ToArray();
        Assert.Equal(bytes, packed[..bytes.Length]);
        Assert.All(packed[bytes.Length..], b => Assert.Equal(0, b));
        var unpacked = new byte[codes.Length];
        MlxPacking.Unpack(words, bits, unpacked);
        Assert.Equal(codes, unpacked);
    }

    private static byte[] Parse(string codes) => [.. codes.Split(' ').Select(byte.Parse)];
}
