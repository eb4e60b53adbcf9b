using BenchmarkDotNet.Attributes;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Benchmarks;

/// <summary>Cost of dispatching one job to the pool: the overhead every parallel product pays.</summary>
public class WorkerPoolBenchmarks
{
    private WorkerPool _pool = null!;

    [ParamsSource(typeof(BenchmarkMatrix), nameof(BenchmarkMatrix.ThreadCounts))]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup() => _pool = new WorkerPool(Threads);

    [Benchmark]
    public void RunEmptyJob()
    {
        var job = default(EmptyJob);
        _pool.Run(ref job, 64 * Threads);
    }

    [GlobalCleanup]
    public void Cleanup() => _pool.Dispose();

    private struct EmptyJob : IRangeJob
    {
        public readonly void Execute(int start, int end)
        {
        }
    }
}
