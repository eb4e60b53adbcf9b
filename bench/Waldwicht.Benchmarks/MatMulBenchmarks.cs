using BenchmarkDotNet.Attributes;
using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Benchmarks;

/// <summary>Quantized matrix-matrix products (prompt prefill) for several token counts.</summary>
public class QuantizedMatMulBenchmarks
{
    private BenchmarkMatrix _matrix = null!;
    private WorkerPool _pool = null!;
    private float[] _x = null!;
    private float[] _y = null!;

    [Params("2048x1536", "1536x6144")]
    public string Shape { get; set; } = "";

    [Params(4)]
    public int Bits { get; set; }

    [Params(64)]
    public int GroupSize { get; set; }

    [Params(8, 64)]
    public int Count { get; set; }

    [ParamsSource(typeof(BenchmarkMatrix), nameof(BenchmarkMatrix.ThreadCounts))]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var (rows, columns) = BenchmarkMatrix.ParseShape(Shape);
        string best = BenchmarkMatrix.ScalarAndBest().Last();
        _matrix = BenchmarkMatrix.Quantized(rows, columns, Bits, GroupSize, ElementType.F32, best);
        _pool = new WorkerPool(Threads);
        _x = MatVecBenchmark.Activations(columns * Count);
        _y = new float[rows * Count];
    }

    [Benchmark]
    public void MatMul() => _matrix.Matrix.MatMul(_x, Count, _y, _pool);

    [GlobalCleanup]
    public void Cleanup()
    {
        _pool.Dispose();
        _matrix.Dispose();
    }
}
