using BenchmarkDotNet.Attributes;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Benchmarks;

/// <summary>
/// One matrix-vector product per call, on the matrix a derived class creates from its parameters, with random
/// activations in [−1, 1), once with one thread and once per processor.
/// </summary>
public abstract class MatVecBenchmark
{
    private BenchmarkMatrix _matrix = null!;
    private WorkerPool _pool = null!;
    private float[] _x = null!;
    private float[] _y = null!;

    [ParamsSource(typeof(BenchmarkMatrix), nameof(BenchmarkMatrix.ThreadCounts))]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _matrix = CreateMatrix();
        _pool = new WorkerPool(Threads);
        _x = Activations(_matrix.Matrix.Columns);
        _y = new float[_matrix.Matrix.Rows];
    }

    [Benchmark]
    public void MatVec() => _matrix.Matrix.MatVec(_x, _y, _pool);

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _matrix.Dispose();
    }

    internal static float[] Activations(int length) =>
        Enumerable.Range(0, length).Select(_ => Random.Shared.NextSingle() * 2 - 1).ToArray();

    /// <summary>Creates the matrix to multiply, from the benchmark's parameters.</summary>
    private protected abstract BenchmarkMatrix CreateMatrix();
}

/// <summary>
/// Quantized matrix-vector products (one decode step) for every bit width and group size, on Gemma 4 E2B shapes
/// (q/o projections 2048×1536, gate/up 6144×1536, down 1536×6144), with F32 scales and biases.
/// </summary>
public class QuantizedMatVecBenchmarks : MatVecBenchmark
{
    [Params("2048x1536", "6144x1536", "1536x6144")]
    public string Shape { get; set; } = "";

    [Params(2, 3, 4, 5, 6, 8)]
    public int Bits { get; set; }

    [Params(32, 64, 128)]
    public int GroupSize { get; set; }

    [ParamsSource(typeof(BenchmarkMatrix), nameof(BenchmarkMatrix.ScalarAndBest))]
    public string Path { get; set; } = "";

    private protected override BenchmarkMatrix CreateMatrix()
    {
        var (rows, columns) = BenchmarkMatrix.ParseShape(Shape);
        return BenchmarkMatrix.Quantized(rows, columns, Bits, GroupSize, ElementType.F32, Path);
    }
}

/// <summary>The most common decode case, 4-bit group 64, on the two main shapes: a quick check of the kernels.</summary>
public class DecodeMatVecBenchmarks : MatVecBenchmark
{
    [Params("2048x1536", "6144x1536")]
    public string Shape { get; set; } = "";

    [Params(4)]
    public int Bits { get; set; }

    [Params(64)]
    public int GroupSize { get; set; }

    private protected override BenchmarkMatrix CreateMatrix()
    {
        var (rows, columns) = BenchmarkMatrix.ParseShape(Shape);
        string best = BenchmarkMatrix.ScalarAndBest().Last();
        return BenchmarkMatrix.Quantized(rows, columns, Bits, GroupSize, ElementType.F32, best);
    }
}

/// <summary>
/// Float and integer activations (<see cref="ActivationPrecision"/>) on the Gemma 4 E2B MLP shapes (gate/up
/// 12288×1536, down 1536×12288) at the main recipes' 4 and 5 bits, group 64, on the best kernel path.
/// </summary>
public class ActivationPrecisionMatVecBenchmarks : MatVecBenchmark
{
    [Params("12288x1536", "1536x12288")]
    public string Shape { get; set; } = "";

    [Params(4, 5)]
    public int Bits { get; set; }

    [Params(64)]
    public int GroupSize { get; set; }

    [Params(ActivationPrecision.Float32, ActivationPrecision.Int32, ActivationPrecision.Int16, ActivationPrecision.Int8)]
    public ActivationPrecision Precision { get; set; }

    private protected override BenchmarkMatrix CreateMatrix()
    {
        var (rows, columns) = BenchmarkMatrix.ParseShape(Shape);
        string best = BenchmarkMatrix.ScalarAndBest().Last();
        return BenchmarkMatrix.Quantized(rows, columns, Bits, GroupSize, ElementType.F32, best, Precision);
    }
}

/// <summary>The tied LM head of Gemma 4 E2B at 3 bits (262144×1536, about 200 MB per token with F32 scales).</summary>
public class LmHeadMatVecBenchmarks : MatVecBenchmark
{
    [Params("262144x1536")]
    public string Shape { get; set; } = "";

    [Params(3)]
    public int Bits { get; set; }

    [Params(64)]
    public int GroupSize { get; set; }

    private protected override BenchmarkMatrix CreateMatrix()
    {
        var (rows, columns) = BenchmarkMatrix.ParseShape(Shape);
        string best = BenchmarkMatrix.ScalarAndBest().Last();
        return BenchmarkMatrix.Quantized(rows, columns, Bits, GroupSize, ElementType.F32, best);
    }
}

/// <summary>Dense matrix-vector products in BF16, F16 and F32.</summary>
public class DenseMatVecBenchmarks : MatVecBenchmark
{
    [Params("2048x1536", "6144x1536")]
    public string Shape { get; set; } = "";

    [Params("BF16", "F16", "F32")]
    public string Format { get; set; } = "";

    [ParamsSource(typeof(BenchmarkMatrix), nameof(BenchmarkMatrix.ScalarAndBest))]
    public string Path { get; set; } = "";

    private protected override BenchmarkMatrix CreateMatrix()
    {
        var (rows, columns) = BenchmarkMatrix.ParseShape(Shape);
        return BenchmarkMatrix.Dense(rows, columns, Enum.Parse<ElementType>(Format), Path);
    }
}
