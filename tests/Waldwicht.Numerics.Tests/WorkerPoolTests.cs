using Waldwicht.Numerics.Threading;

namespace Waldwicht.Numerics.Tests;

public sealed class WorkerPoolTests
{
    private static readonly TimeSpan ShortSpin = TimeSpan.FromMicroseconds(50);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void Run_VisitsEachIndexOnce(int degreeOfParallelism)
    {
        using var pool = new WorkerPool(degreeOfParallelism, ShortSpin);
        foreach (int length in new[] { 1, 2, 3, 7, 64, 1000, 4097 })
        {
            foreach (int grain in new[] { 1, 3, 16 })
            {
                var job = new CountingJob(length, grain);
                pool.Run(ref job, length, grain);
                Assert.All(job.Visits, visits => Assert.Equal(1, visits));
                Assert.Equal(0, job.Misaligned[0]);
            }
        }
    }

    [Fact]
    public void Run_ZeroLengthDoesNotCallJob()
    {
        using var pool = new WorkerPool(2, ShortSpin);
        var job = new CountingJob(1, 1);
        pool.Run(ref job, 0);
        Assert.Equal(0, job.Visits[0]);
    }

    [Fact]
    public void Run_RethrowsFirstExceptionAndStaysUsable()
    {
        using var pool = new WorkerPool(3, ShortSpin);
        var failing = new ThrowingJob(throwAt: 517);
        var error = Assert.Throws<InvalidOperationException>(() => pool.Run(ref failing, 1000));
        Assert.Equal("Index 517 failed.", error.Message);
        Assert.Contains(nameof(ThrowingJob), error.StackTrace);

        var job = new CountingJob(1000, 1);
        pool.Run(ref job, 1000);
        Assert.All(job.Visits, visits => Assert.Equal(1, visits));
    }

    [Fact]
    public void Run_PropagatesExceptionsFromEveryChunk()
    {
        using var pool = new WorkerPool(4, ShortSpin);
        for (int i = 0; i < 50; i++)
        {
            var failing = new ThrowingJob(throwAt: -1);
            Assert.Throws<InvalidOperationException>(() => pool.Run(ref failing, 64));
        }
    }

    [Fact]
    public void Run_ManySmallJobsInARow()
    {
        using var pool = new WorkerPool(3, ShortSpin);
        var job = new CountingJob(8, 1);
        for (int i = 0; i < 20_000; i++)
        {
            pool.Run(ref job, 8);
        }

        Assert.All(job.Visits, visits => Assert.Equal(20_000, visits));
    }

    [Fact]
    public void Run_FromSeveralThreadsAtOnce()
    {
        using var pool = new WorkerPool(3, ShortSpin);
        var results = new int[4][];
        var callers = Enumerable.Range(0, 4).Select(caller => new Thread(() =>
        {
            var job = new CountingJob(257, 1);
            for (int i = 0; i < 300; i++)
            {
                pool.Run(ref job, 257, 4);
            }

            results[caller] = job.Visits;
        })).ToArray();

        foreach (var caller in callers)
        {
            caller.Start();
        }

        foreach (var caller in callers)
        {
            caller.Join();
        }

        foreach (var visits in results)
        {
            Assert.All(visits, count => Assert.Equal(300, count));
        }
    }

    [Fact]
    public void Run_NestedCallRunsOnTheCurrentThread()
    {
        using var pool = new WorkerPool(3, ShortSpin);
        var job = new NestingJob(pool, inner: 50);
        pool.Run(ref job, 12);
        Assert.All(job.Visits, visits => Assert.Equal(12, visits));
    }

    [Fact]
    public void Run_AcceptsRefStructJobs()
    {
        using var pool = new WorkerPool(2, ShortSpin);
        var values = new int[333];
        var job = new SpanJob(values);
        pool.Run(ref job, values.Length, 10);
        for (int i = 0; i < values.Length; i++)
        {
            Assert.Equal(i * 2, values[i]);
        }
    }

    [Fact]
    public void Run_DoesNotAllocateWhenWarm()
    {
        using var pool = new WorkerPool(3, ShortSpin);
        var job = new CountingJob(4096, 1);
        pool.Run(ref job, 4096, 16);

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            pool.Run(ref job, 4096, 16);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Run_WithoutSpinningBlocksAndWakes()
    {
        using var pool = new WorkerPool(3, TimeSpan.Zero);
        var job = new CountingJob(100, 1);
        for (int i = 0; i < 200; i++)
        {
            pool.Run(ref job, 100);
        }

        Assert.All(job.Visits, visits => Assert.Equal(200, visits));
    }

    [Fact]
    public void Run_AfterDisposeThrows()
    {
        var pool = new WorkerPool(2, ShortSpin);
        pool.Dispose();
        pool.Dispose();
        var job = new CountingJob(4, 1);
        Assert.Throws<ObjectDisposedException>(() => pool.Run(ref job, 4));
    }

    [Fact]
    public void Arguments_AreValidated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new WorkerPool(2, TimeSpan.FromTicks(-1)));
        using var pool = new WorkerPool(2, ShortSpin);
        var job = new CountingJob(4, 1);
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Run(ref job, -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => pool.Run(ref job, 4, 0));
    }

    [Fact]
    public void Shared_IsReplaceable()
    {
        var original = WorkerPool.Shared;
        Assert.Equal(Environment.ProcessorCount, original.DegreeOfParallelism);
        Assert.Same(original, WorkerPool.Shared);

        using var replacement = new WorkerPool(2, ShortSpin);
        WorkerPool.Shared = replacement;
        try
        {
            Assert.Same(replacement, WorkerPool.Shared);
        }
        finally
        {
            WorkerPool.Shared = original;
        }

        Assert.Throws<ArgumentNullException>(() => WorkerPool.Shared = null!);
    }

    private readonly struct CountingJob(int length, int grain) : IRangeJob
    {
        public int[] Visits { get; } = new int[length];

        public int[] Misaligned { get; } = new int[1];

        public void Execute(int start, int end)
        {
            if (start % grain != 0 || (end - start) % grain != 0 && end != Visits.Length)
            {
                Interlocked.Increment(ref Misaligned[0]);
            }

            for (int i = start; i < end; i++)
            {
                Interlocked.Increment(ref Visits[i]);
            }
        }
    }

    private readonly struct ThrowingJob(int throwAt) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                if (throwAt < 0 || i == throwAt)
                {
                    throw new InvalidOperationException($"Index {i} failed.");
                }
            }
        }
    }

    private readonly struct NestingJob(WorkerPool pool, int inner) : IRangeJob
    {
        public int[] Visits { get; } = new int[inner];

        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                var job = new ForwardingJob(Visits);
                pool.Run(ref job, inner);
            }
        }
    }

    private readonly struct ForwardingJob(int[] visits) : IRangeJob
    {
        public void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                Interlocked.Increment(ref visits[i]);
            }
        }
    }

    private ref struct SpanJob(Span<int> values) : IRangeJob
    {
        private readonly Span<int> _values = values;

        public readonly void Execute(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                _values[i] = i * 2;
            }
        }
    }
}
