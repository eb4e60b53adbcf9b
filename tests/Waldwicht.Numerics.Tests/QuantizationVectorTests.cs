using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;
using Waldwicht.Tests;

namespace Waldwicht.Numerics.Tests;

/// <summary>
/// Checks unpacking and dequantization against the committed MLX affine quantization vectors: 8 rows of 128 values
/// for every bit width and group size, with BF16 and F32 scales.
/// </summary>
public sealed class QuantizationVectorTests : IDisposable
{
    private static readonly Lazy<SafetensorsFixture> Vectors =
        new(() => new SafetensorsFixture(TestData.Path("mlx-affine-quant", "quant_vectors.safetensors")));

    private readonly WorkerPool _pool = new(2, TimeSpan.Zero);

    public static TheoryData<string, int, int> Cases() => CasesOf("bf16", "f32", "bf16_as_f32_gpu");

    // Only these sets store their unpacked codes.
    public static TheoryData<string, int, int> CodeCases() => CasesOf("bf16", "f32");

    public void Dispose() => _pool.Dispose();

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReadRow_EqualsDequantizedVector(string set, int bits, int groupSize)
    {
        var matrix = Open(set, bits, groupSize, KernelPath.Scalar);
        var expected = Vectors.Value.Span<float>($"{set}.b{bits}.g{groupSize}.dequant");
        var row = new float[matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.ReadRow(r, row);
            for (int c = 0; c < matrix.Columns; c++)
            {
                Assert.Equal(
                    BitConverter.SingleToInt32Bits(expected[r * matrix.Columns + c]),
                    BitConverter.SingleToInt32Bits(row[c]));
            }
        }
    }

    [Theory]
    [MemberData(nameof(CodeCases))]
    public unsafe void ExtractCode_EqualsStoredCodes(string set, int bits, int groupSize)
    {
        var codes = Vectors.Value.Span<uint>($"{set}.b{bits}.g{groupSize}.codes");
        uint* words = (uint*)Vectors.Value.Pointer($"{set}.b{bits}.g{groupSize}.weight");
        int wordsPerRow = 128 * bits / 32;
        for (int r = 0; r < 8; r++)
        {
            for (int c = 0; c < 128; c++)
            {
                Assert.Equal(codes[r * 128 + c], QuantizedLayout.ExtractCode(words + r * wordsPerRow, c, bits));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatVec_MatchesDequantizedDot(string set, int bits, int groupSize)
    {
        var expected = Vectors.Value.Span<float>($"{set}.b{bits}.g{groupSize}.dequant");
        var x = TestVectors.Random(128, bits * 100 + groupSize);
        foreach (var path in TestPaths.Tested.Select(TestPaths.Parse))
        {
            var matrix = Open(set, bits, groupSize, path);
            var y = new float[matrix.Rows];
            matrix.MatVec(x, y, _pool);
            for (int r = 0; r < matrix.Rows; r++)
            {
                double sum = 0;
                double magnitude = 0;
                for (int c = 0; c < 128; c++)
                {
                    sum += (double)expected[r * 128 + c] * x[c];
                    magnitude += Math.Abs((double)expected[r * 128 + c] * x[c]);
                }

                // Scales rounded to bf16 leave the dequantized values exact, but the kernels sum in another order.
                TestPaths.AssertClose(sum, y[r], 1e-5 * magnitude + 1e-6, $"{path} row {r}");
            }
        }
    }

    private static TheoryData<string, int, int> CasesOf(params string[] sets)
    {
        var data = new TheoryData<string, int, int>();
        foreach (string set in sets)
        {
            foreach (int bits in TestPaths.BitWidths)
            {
                foreach (int groupSize in TestPaths.GroupSizes)
                {
                    data.Add(set, bits, groupSize);
                }
            }
        }

        return data;
    }

    private static QuantizedMatrix Open(string set, int bits, int groupSize, KernelPath path)
    {
        var vectors = Vectors.Value;
        string prefix = $"{set}.b{bits}.g{groupSize}";
        var scaleType = vectors.DType($"{prefix}.scales") switch
        {
            "BF16" => ElementType.BF16,
            "F16" => ElementType.F16,
            _ => ElementType.F32,
        };
        Assert.Equal([8, 128 * bits / 32], vectors.Shape($"{prefix}.weight"));
        Assert.Equal([8, 128 / groupSize], vectors.Shape($"{prefix}.scales"));
        return new QuantizedMatrix(
            vectors.Pointer($"{prefix}.weight"),
            vectors.Pointer($"{prefix}.scales"),
            vectors.Pointer($"{prefix}.biases"),
            scaleType,
            8,
            128,
            bits,
            groupSize)
        {
            KernelPath = path,
            ActivationPrecision = ActivationPrecision.Float32,
        };
    }
}
