using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Waldwicht.Evaluation.Throughput;

/// <summary>Result of a read-bandwidth measurement.</summary>
/// <param name="GigabytesPerSecond">Best observed read rate over all passes, in 10^9 bytes per second.</param>
/// <param name="BufferBytes">Size of the buffer that was streamed.</param>
/// <param name="Threads">Threads that read in parallel.</param>
/// <param name="Passes">Timed passes over the buffer.</param>
public sealed record BandwidthResult(double GigabytesPerSecond, long BufferBytes, int Threads, int Passes);

/// <summary>
/// Measures this machine's memory read bandwidth: several threads stream disjoint parts of a
/// buffer much larger than the caches and sum it with SIMD loads, the access pattern of decoding.
/// </summary>
public static class MemoryBandwidth
{
    /// <summary>Streams a buffer of <paramref name="bufferBytes"/> bytes <paramref name="passes"/> times and returns the best rate.</summary>
    public static unsafe BandwidthResult Measure(long bufferBytes = 1L << 30, int passes = 5, int? threads = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferBytes, 1L << 20);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(passes);
        int workers = threads ?? Environment.ProcessorCount;
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(workers);

        long vectors = bufferBytes / 64;
        bufferBytes = vectors * 64;
        byte* buffer = (byte*)NativeMemory.AlignedAlloc((nuint)bufferBytes, 64);
        try
        {
            // Touch every page so the timed passes read resident memory.
            new Span<byte>(buffer, (int)Math.Min(bufferBytes, int.MaxValue)).Fill(1);
            for (long offset = int.MaxValue; offset < bufferBytes; offset += 4096)
            {
                buffer[offset] = 1;
            }

            double best = 0;
            var sums = new ulong[workers];
            for (int pass = 0; pass < passes + 1; pass++)
            {
                var clock = Stopwatch.StartNew();
                Parallel.For(0, workers, new ParallelOptions { MaxDegreeOfParallelism = workers }, worker =>
                {
                    long first = vectors * worker / workers;
                    long last = vectors * (worker + 1) / workers;
                    sums[worker] += SumRange(buffer, first, last);
                });
                double seconds = clock.Elapsed.TotalSeconds;

                // The first pass warms the thread pool and is not counted.
                if (pass > 0)
                {
                    best = Math.Max(best, bufferBytes / seconds / 1e9);
                }
            }

            GC.KeepAlive(sums);
            return new BandwidthResult(best, bufferBytes, workers, passes);
        }
        finally
        {
            NativeMemory.AlignedFree(buffer);
        }
    }

    private static unsafe ulong SumRange(byte* buffer, long firstVector, long lastVector)
    {
        var a = Vector256<ulong>.Zero;
        var b = Vector256<ulong>.Zero;
        for (long i = firstVector; i < lastVector; i++)
        {
            byte* p = buffer + i * 64;
            a += Vector256.Load((ulong*)p);
            b += Vector256.Load((ulong*)(p + 32));
        }

        return Vector256.Sum(a + b);
    }
}
