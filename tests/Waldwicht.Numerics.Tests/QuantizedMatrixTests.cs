using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Numerics.Tests;

public sealed class QuantizedMatrixTests : IDisposable
{
    // Float32 summation over up to 2,000 terms stays far below this fraction of Σ|terms| for random data.
    private const double RelativeTolerance = 2e-5;

    private readonly WorkerPool _pool = new(3, TimeSpan.Zero);

    public static TheoryData<string, int, int, ElementType> PathCases()
    {
        var data = new TheoryData<string, int, int, ElementType>();
        foreach (var path in TestPaths.Tested)
        {
            foreach (int bits in TestPaths.BitWidths)
            {
                foreach (int groupSize in TestPaths.GroupSizes)
                {
                    foreach (var scaleType in TestPaths.ElementTypes)
                    {
                        data.Add(path, bits, groupSize, scaleType);
                    }
                }
            }
        }

        return data;
    }

    public static TheoryData<int, int, ElementType> FormatCases()
    {
        var data = new TheoryData<int, int, ElementType>();
        foreach (int bits in TestPaths.BitWidths)
        {
            foreach (int groupSize in TestPaths.GroupSizes)
            {
                foreach (var scaleType in TestPaths.ElementTypes)
                {
                    data.Add(bits, groupSize, scaleType);
                }
            }
        }

        return data;
    }

    public static TheoryData<string> Paths()
    {
        var data = new TheoryData<string>();
        foreach (var path in TestPaths.Tested)
        {
            data.Add(path);
        }

        return data;
    }

    public void Dispose() => _pool.Dispose();

    [Theory]
    [MemberData(nameof(PathCases))]
    public void MatVec_MatchesReferences(string pathName, int bits, int groupSize, ElementType scaleType)
    {
        var path = TestPaths.Parse(pathName);
        int odd = TestPaths.OddColumns(groupSize);
        (int Rows, int Columns)[] shapes = [(1, odd), (3, odd), (7, 3 * groupSize), (33, groupSize), (130, odd)];
        int seed = bits * 1000 + groupSize + (int)scaleType;
        foreach (var (rows, columns) in shapes)
        {
            using var matrix = new QuantizedTestMatrix(rows, columns, bits, groupSize, scaleType, seed++);
            var x = TestVectors.Random(columns, seed++);
            var y = new float[rows];
            var scalar = new float[rows];
            matrix.WithPath(path).MatVec(x, y, _pool);
            matrix.WithPath(KernelPath.Scalar).MatVec(x, scalar, _pool);
            for (int r = 0; r < rows; r++)
            {
                var (expected, magnitude) = matrix.ReferenceDot(r, x);
                string context = $"{rows}x{columns} row {r}";
                TestPaths.AssertClose(expected, y[r], RelativeTolerance * magnitude, $"{context} vs float64");
                TestPaths.AssertClose(expected, scalar[r], RelativeTolerance * magnitude, $"{context} scalar vs float64");
                TestPaths.AssertClose(scalar[r], y[r], 2 * RelativeTolerance * magnitude, $"{context} vs scalar");
            }
        }
    }

    [Theory]
    [MemberData(nameof(PathCases))]
    public void MatMul_MatchesMatVecPerToken(string pathName, int bits, int groupSize, ElementType scaleType)
    {
        var path = TestPaths.Parse(pathName);
        int columns = TestPaths.OddColumns(groupSize);
        using var matrix = new QuantizedTestMatrix(37, columns, bits, groupSize, scaleType, bits + groupSize);
        var quantized = matrix.WithPath(path);
        foreach (int count in new[] { 2, 5, 9 })
        {
            AssertMatMulMatchesMatVec(matrix, quantized, count);
        }
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void MatMul_EveryCountMatchesMatVec(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        using var matrix = new QuantizedTestMatrix(130, 1536, 4, 64, ElementType.BF16, 11);
        using var odd = new QuantizedTestMatrix(45, 992, 3, 32, ElementType.F32, 12);
        foreach (int count in new[] { 1, 2, 3, 4, 5, 6, 7, 8, 9, 17, 33 })
        {
            AssertMatMulMatchesMatVec(matrix, matrix.WithPath(path), count);
            AssertMatMulMatchesMatVec(odd, odd.WithPath(path), count);
        }
    }

    // Column counts 32·m for m = 1 to 17 give every word count modulo 16 that each width allows, so each path meets
    // rows with and without 16-, 8- and 4-lane regions and with and without a scalar tail, where the width has one.
    [Theory]
    [MemberData(nameof(Paths))]
    public void MatVec_EveryColumnCountMatchesReference(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        int seed = 500;
        foreach (int bits in TestPaths.BitWidths)
        {
            for (int m = 1; m <= 17; m++)
            {
                foreach (int rows in new[] { 1, 3 })
                {
                    int columns = 32 * m;
                    var scaleType = m % 2 == 0 ? ElementType.F32 : ElementType.BF16;
                    using var matrix = new QuantizedTestMatrix(rows, columns, bits, 32, scaleType, seed++);
                    var x = TestVectors.Random(columns, seed++);
                    var y = new float[rows];
                    matrix.WithPath(path).MatVec(x, y, _pool);
                    for (int r = 0; r < rows; r++)
                    {
                        var (expected, magnitude) = matrix.ReferenceDot(r, x);
                        TestPaths.AssertClose(
                            expected, y[r], RelativeTolerance * magnitude, $"q{bits} {rows}x{columns} {scaleType} row {r}");
                    }
                }
            }
        }
    }

    [Fact]
    public void MatMul_SeveralPassesMatchMatVec()
    {
        using var matrix = new QuantizedTestMatrix(9, 64, 5, 32, ElementType.BF16, 13);
        AssertMatMulMatchesMatVec(matrix, matrix.Matrix, 600);
    }

    [Theory]
    [MemberData(nameof(Paths))]
    public void MatVec_LargeMatrixSplitsAcrossThreads(string pathName)
    {
        var path = TestPaths.Parse(pathName);
        using var matrix = new QuantizedTestMatrix(1001, 1536, 5, 64, ElementType.F32, 21);
        var x = TestVectors.Random(1536, 22);
        var y = new float[1001];
        matrix.WithPath(path).MatVec(x, y, _pool);
        for (int r = 0; r < 1001; r++)
        {
            var (expected, magnitude) = matrix.ReferenceDot(r, x);
            TestPaths.AssertClose(expected, y[r], RelativeTolerance * magnitude, $"row {r}");
        }
    }

    [Theory]
    [MemberData(nameof(FormatCases))]
    public void ReadRow_RoundsProductThenAddsBias(int bits, int groupSize, ElementType scaleType)
    {
        using var matrix = new QuantizedTestMatrix(5, 3 * groupSize, bits, groupSize, scaleType, 31);
        var row = new float[matrix.Columns];
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.Matrix.ReadRow(r, row);
            for (int c = 0; c < matrix.Columns; c++)
            {
                int group = r * (matrix.Columns / groupSize) + c / groupSize;
                float product = matrix.Codes[r * matrix.Columns + c] * matrix.Scales[group];
                float expected = product + matrix.Biases[group];
                Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(row[c]));
            }
        }
    }

    [Theory]
    [MemberData(nameof(FormatCases))]
    public void ReadRowCodes_ReturnsStoredCodes(int bits, int groupSize, ElementType scaleType)
    {
        using var matrix = new QuantizedTestMatrix(5, 3 * groupSize, bits, groupSize, scaleType, 37);
        var codes = new byte[matrix.Columns];
        var scales = new float[3];
        var biases = new float[3];
        for (int r = 0; r < matrix.Rows; r++)
        {
            matrix.Matrix.ReadRowCodes(r, codes, scales, biases);
            Assert.Equal(matrix.Codes.AsSpan(r * matrix.Columns, matrix.Columns).ToArray(), codes.Select(c => (uint)c));
            Assert.Equal(matrix.Scales.AsSpan(r * 3, 3).ToArray(), scales);
            Assert.Equal(matrix.Biases.AsSpan(r * 3, 3).ToArray(), biases);
        }
    }

    [Fact]
    public void ReadRowCodes_RejectsInvalidArguments()
    {
        using var matrix = new QuantizedTestMatrix(8, 64, 4, 32, ElementType.F32, 83);
        var m = matrix.Matrix;
        Assert.Throws<ArgumentOutOfRangeException>(() => m.ReadRowCodes(8, new byte[64], new float[2], new float[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.ReadRowCodes(-1, new byte[64], new float[2], new float[2]));
        Assert.Throws<ArgumentException>(() => m.ReadRowCodes(0, new byte[63], new float[2], new float[2]));
        Assert.Throws<ArgumentException>(() => m.ReadRowCodes(0, new byte[64], new float[1], new float[2]));
        Assert.Throws<ArgumentException>(() => m.ReadRowCodes(0, new byte[64], new float[2], new float[1]));
    }

    [Fact]
    public void ReadRow_AcceptsLongerDestination()
    {
        using var matrix = new QuantizedTestMatrix(2, 64, 4, 64, ElementType.F32, 41);
        var row = new float[70];
        row[64] = 123f;
        matrix.Matrix.ReadRow(1, row);
        Assert.Equal(123f, row[64]);
        Assert.Equal(matrix.Weight(1, 63), row[63], 6);
    }

    [Fact]
    public void MatVec_DoesNotAllocateWhenWarm()
    {
        using var matrix = new QuantizedTestMatrix(512, 1536, 4, 64, ElementType.BF16, 51);
        var x = TestVectors.Random(1536 * 3, 52);
        var y = new float[512 * 3];
        matrix.Matrix.MatVec(x, y, _pool);
        matrix.Matrix.MatMul(x, 3, y, _pool);

        long before = GC.GetAllocatedBytesForCurrentThread();
        matrix.Matrix.MatVec(x, y, _pool);
        matrix.Matrix.MatMul(x, 3, y, _pool);
        long after = GC.GetAllocatedBytesForCurrentThread();

        Assert.Equal(0, after - before);
    }

    [Fact]
    public void MatVec_SingleThreadPoolMatchesParallel()
    {
        using var matrix = new QuantizedTestMatrix(300, 1024, 6, 128, ElementType.F16, 61);
        using var single = new WorkerPool(1);
        var x = TestVectors.Random(1024, 62);
        var parallel = new float[300];
        var serial = new float[300];
        matrix.Matrix.MatVec(x, parallel, _pool);
        matrix.Matrix.MatVec(x, serial, single);
        Assert.Equal(serial, parallel);
    }

    [Fact]
    public void MatMul_ZeroCountLeavesOutputUntouched()
    {
        using var matrix = new QuantizedTestMatrix(4, 64, 4, 64, ElementType.F32, 71);
        var y = new[] { 1f, 2f };
        matrix.Matrix.MatMul(ReadOnlySpan<float>.Empty, 0, y, _pool);
        Assert.Equal(new[] { 1f, 2f }, y);
    }

    [Fact]
    public void DefaultActivationPrecision_IsRecommendedExactPrecision()
    {
        // A default may only be an exact precision: Int32 where the AVX2 kernels are the widest, Float32 elsewhere.
        var expected = KernelPaths.Best == KernelPath.Vector256 && System.Runtime.Intrinsics.X86.Avx2.IsSupported
            ? ActivationPrecision.Int32
            : ActivationPrecision.Float32;
        Assert.Equal(expected, QuantizedMatrix.RecommendedActivationPrecision);
        Assert.Equal(expected, QuantizedMatrix.DefaultActivationPrecision);
        Assert.Equal(expected, new QuantizedMatrix(64, 64, 64, ElementType.F32, 4, 64, 4, 64).ActivationPrecision);
    }

    [Fact]
    public void Constructor_RejectsInvalidArguments()
    {
        nint p = 64;
        Assert.Throws<ArgumentOutOfRangeException>(() => new QuantizedMatrix(p, p, p, ElementType.F32, 4, 64, 7, 64));
        Assert.Throws<ArgumentOutOfRangeException>(() => new QuantizedMatrix(p, p, p, ElementType.F32, 4, 64, 1, 64));
        Assert.Throws<ArgumentOutOfRangeException>(() => new QuantizedMatrix(p, p, p, ElementType.F32, 4, 64, 4, 16));
        Assert.Throws<ArgumentException>(() => new QuantizedMatrix(p, p, p, ElementType.F32, 4, 96, 4, 64));
        Assert.Throws<ArgumentException>(() => new QuantizedMatrix(p, 0, p, ElementType.F32, 4, 64, 4, 64));
        Assert.Throws<ArgumentOutOfRangeException>(() => new QuantizedMatrix(p, p, p, (ElementType)9, 4, 64, 4, 64));
        Assert.Throws<ArgumentOutOfRangeException>(() => new QuantizedMatrix(p, p, p, ElementType.F32, 0, 64, 4, 64));
    }

    [Fact]
    public void Products_RejectInvalidSpans()
    {
        using var matrix = new QuantizedTestMatrix(8, 64, 4, 32, ElementType.F32, 81);
        var m = matrix.Matrix;
        Assert.Throws<ArgumentException>(() => m.MatVec(new float[63], new float[8], _pool));
        Assert.Throws<ArgumentException>(() => m.MatVec(new float[64], new float[7], _pool));
        Assert.Throws<ArgumentException>(() => m.MatMul(new float[64 * 2], 3, new float[8 * 3], _pool));
        Assert.Throws<ArgumentException>(() => m.MatMul(new float[64 * 3], 3, new float[8 * 3 - 1], _pool));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.MatMul(new float[64], -1, new float[8], _pool));
        Assert.Throws<ArgumentNullException>(() => m.MatVec(new float[64], new float[8], null!));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.ReadRow(8, new float[64]));
        Assert.Throws<ArgumentOutOfRangeException>(() => m.ReadRow(-1, new float[64]));
        Assert.Throws<ArgumentException>(() => m.ReadRow(0, new float[63]));

        var shared = new float[128];
        var error = Assert.Throws<ArgumentException>(() => m.MatVec(shared.AsSpan(0, 64), shared.AsSpan(60, 8), _pool));
        Assert.Contains("overlaps", error.Message);
    }

    [Fact]
    public void Properties_DescribeStorage()
    {
        using var matrix = new QuantizedTestMatrix(6, 256, 3, 64, ElementType.BF16, 91);
        var m = matrix.Matrix;
        Assert.Equal(24, m.WordsPerRow);
        Assert.Equal(4, m.GroupsPerRow);
        Assert.Equal(6L * 24 * 4 + 2L * 6 * 4 * 2, m.StorageBytes);
        Assert.Equal("q3 g64 bf16-scales", m.StorageDescription);
    }

    private void AssertMatMulMatchesMatVec(QuantizedTestMatrix matrix, QuantizedMatrix quantized, int count)
    {
        int rows = matrix.Rows;
        int columns = matrix.Columns;
        var x = TestVectors.Random(count * columns, count * 7 + rows);
        var y = new float[count * rows];
        quantized.MatMul(x, count, y, _pool);
        var single = new float[rows];
        for (int t = 0; t < count; t++)
        {
            var token = x.AsSpan(t * columns, columns);
            quantized.MatVec(token, single, _pool);
            for (int r = 0; r < rows; r++)
            {
                var (expected, magnitude) = matrix.ReferenceDot(r, token);
                string context = $"count {count} token {t} row {r}";
                TestPaths.AssertClose(single[r], y[t * rows + r], 2 * RelativeTolerance * magnitude, $"{context} vs MatVec");
                TestPaths.AssertClose(expected, y[t * rows + r], RelativeTolerance * magnitude, $"{context} vs float64");
            }
        }
    }
}
