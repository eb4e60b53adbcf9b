using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Numerics.Tests;

public sealed class DenseMatrixTests : IDisposable
{
    private const double RelativeTolerance = 1e-5;

    private readonly WorkerPool _pool = new(3, TimeSpan.Zero);

    public static TheoryData<string, ElementType> Cases()
    {
        var data = new TheoryData<string, ElementType>();
        foreach (var path in TestPaths.Tested)
        {
            foreach (var type in TestPaths.ElementTypes)
            {
                data.Add(path, type);
            }
        }

        return data;
    }

    public void Dispose() => _pool.Dispose();

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatVec_MatchesFloat64(string pathName, ElementType type)
    {
        var path = TestPaths.Parse(pathName);
        (int Rows, int Columns)[] shapes = [(1, 1), (3, 7), (17, 33), (64, 1536), (130, 1000), (5, 2051)];
        int seed = (int)type * 100;
        foreach (var (rows, columns) in shapes)
        {
            using var matrix = new DenseTestMatrix(rows, columns, type, seed++);
            var x = TestVectors.Random(columns, seed++);
            var y = new float[rows];
            matrix.WithPath(path).MatVec(x, y, _pool);
            for (int r = 0; r < rows; r++)
            {
                var (expected, magnitude) = matrix.ReferenceDot(r, x);
                TestPaths.AssertClose(expected, y[r], RelativeTolerance * magnitude, $"{rows}x{columns} row {r}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatMul_MatchesMatVecPerToken(string pathName, ElementType type)
    {
        var path = TestPaths.Parse(pathName);
        foreach (var (rows, columns) in new[] { (37, 1000), (9, 35), (70, 1536) })
        {
            using var matrix = new DenseTestMatrix(rows, columns, type, rows);
            var dense = matrix.WithPath(path);
            foreach (int count in new[] { 2, 3, 4, 5, 9, 17 })
            {
                var x = TestVectors.Random(count * columns, count);
                var y = new float[count * rows];
                dense.MatMul(x, count, y, _pool);
                var single = new float[rows];
                for (int t = 0; t < count; t++)
                {
                    var token = x.AsSpan(t * columns, columns);
                    dense.MatVec(token, single, _pool);
                    for (int r = 0; r < rows; r++)
                    {
                        var (expected, magnitude) = matrix.ReferenceDot(r, token);
                        string context = $"{rows}x{columns} count {count} token {t} row {r}";
                        TestPaths.AssertClose(single[r], y[t * rows + r], 2 * RelativeTolerance * magnitude, context);
                        TestPaths.AssertClose(expected, y[t * rows + r], RelativeTolerance * magnitude, context);
                    }
                }
            }
        }
    }

    [Fact]
    public void MatMul_SeveralPassesMatchFloat64()
    {
        using var matrix = new DenseTestMatrix(6, 40, ElementType.BF16, 17);
        var x = TestVectors.Random(600 * 40, 18);
        var y = new float[600 * 6];
        matrix.WithPath(Kernels.KernelPaths.Best).MatMul(x, 600, y, _pool);
        for (int t = 0; t < 600; t++)
        {
            for (int r = 0; r < 6; r++)
            {
                var (expected, magnitude) = matrix.ReferenceDot(r, x.AsSpan(t * 40, 40));
                TestPaths.AssertClose(expected, y[t * 6 + r], RelativeTolerance * magnitude, $"token {t} row {r}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void ReadRow_IsExact(string pathName, ElementType type)
    {
        var path = TestPaths.Parse(pathName);
        using var matrix = new DenseTestMatrix(4, 77, type, 5);
        var row = new float[77];
        for (int r = 0; r < 4; r++)
        {
            matrix.WithPath(path).ReadRow(r, row);
            Assert.Equal(matrix.Values.AsSpan(r * 77, 77).ToArray(), row);
        }
    }

    [Fact]
    public void Constructor_RejectsInvalidArguments()
    {
        Assert.Throws<ArgumentNullException>(() => new DenseMatrix(0, ElementType.F32, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DenseMatrix(64, (ElementType)7, 2, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DenseMatrix(64, ElementType.F32, 2, 0));
    }

    [Fact]
    public void Properties_DescribeStorage()
    {
        using var matrix = new DenseTestMatrix(3, 10, ElementType.BF16, 1);
        var dense = matrix.WithPath(KernelPath.Scalar);
        Assert.Equal(60, dense.StorageBytes);
        Assert.Equal("bf16", dense.StorageDescription);
    }
}
