using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;

namespace Waldwicht.Numerics.Threading;

/// <summary>
/// A fixed set of worker threads that run range-split jobs (<see cref="IRangeJob"/>) together with the
/// calling thread. A call allocates nothing: the job stays on the caller's stack and is reached through a
/// pointer while the caller waits.
/// </summary>
/// <remarks>
/// <para>
/// Idle workers spin for <see cref="SpinTime"/> after each job, so that back-to-back jobs (one matrix-vector
/// product after another) start without a kernel wake-up, and then block until the next job.
/// </para>
/// <para>
/// Thread safety: <see cref="Run{TJob}(ref TJob, int, int)"/> may be called from any number of threads.
/// Calls from different threads are serialized, one job at a time. A call made from inside a running job of any
/// pool (on a worker or on the calling thread) does not wait for the pool but runs its whole range on the
/// current thread, so nesting never deadlocks.
/// </para>
/// </remarks>
public sealed unsafe class WorkerPool : IDisposable
{
    /// <summary>
    /// Default time an idle worker spins before it blocks: long enough to cover the element-wise work between two
    /// products of one decode step, short enough that idle workers stop using processors soon.
    /// </summary>
    public static readonly TimeSpan DefaultSpinTime = TimeSpan.FromMicroseconds(200);

    // Chunks per participant: more chunks balance uneven progress, fewer cost fewer atomic claims.
    private const int ChunksPerParticipant = 4;

    private const int ClosedChunk = int.MaxValue;

    private static WorkerPool? s_shared;

    // Depth of job chunks the current thread is executing, for any pool. Non-zero means a nested call.
    [ThreadStatic]
    private static int t_jobDepth;

    private readonly Thread[] _threads;
    private readonly long _spinTicks;
    private readonly object _runLock = new();
    private readonly object _wakeLock = new();
    private readonly object _doneLock = new();

    // The current job. The fields are written before the generation is published and stay unchanged
    // until every chunk of that generation has completed.
    private void* _jobState;
    private delegate*<void*, int, int, void> _invoke;
    private int _length;
    private int _chunkSize;
    private int _chunkCount;

    // The generation of the current job in the high 32 bits, the index of the next unclaimed chunk in the low ones.
    private long _ticket;
    private int _generation;
    private int _completed;
    private int _faulted;
    private Exception? _error;
    private int _sleepers;
    private int _callerWaiting;
    private volatile bool _disposed;

    /// <summary>Creates a pool that uses every processor (<see cref="Environment.ProcessorCount"/>).</summary>
    public WorkerPool()
        : this(Environment.ProcessorCount)
    {
    }

    /// <summary>Creates a pool with <paramref name="degreeOfParallelism"/> participants in every job.</summary>
    /// <param name="degreeOfParallelism">
    /// Threads that work on a job, counting the calling thread. The pool starts one fewer worker thread.
    /// 1 runs every job on the calling thread.
    /// </param>
    public WorkerPool(int degreeOfParallelism)
        : this(degreeOfParallelism, DefaultSpinTime)
    {
    }

    /// <summary>Creates a pool with a custom idle spin time.</summary>
    /// <param name="degreeOfParallelism">Threads that work on a job, counting the calling thread.</param>
    /// <param name="spinTime">Time an idle worker spins before it blocks. <see cref="TimeSpan.Zero"/> blocks at once.</param>
    public WorkerPool(int degreeOfParallelism, TimeSpan spinTime)
    {
        if (degreeOfParallelism < 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(degreeOfParallelism), degreeOfParallelism, "The degree of parallelism must be at least 1.");
        }

        if (spinTime < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(spinTime), spinTime, "The spin time must not be negative.");
        }

        DegreeOfParallelism = degreeOfParallelism;
        SpinTime = spinTime;
        _spinTicks = (long)(spinTime.TotalSeconds * Stopwatch.Frequency);
        _ticket = ClosedChunk;
        _threads = new Thread[degreeOfParallelism - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _threads[i] = new Thread(WorkerLoop)
            {
                IsBackground = true,
                Name = $"Waldwicht worker {i + 1}",
            };
            _threads[i].Start();
        }
    }

    /// <summary>
    /// The pool that matrix products use when no pool is passed. Created on first use with one participant
    /// per processor. Setting it replaces the pool for later calls and does not dispose the previous pool.
    /// </summary>
    public static WorkerPool Shared
    {
        get => Volatile.Read(ref s_shared) ?? CreateShared();
        set
        {
            ArgumentNullException.ThrowIfNull(value);
            Volatile.Write(ref s_shared, value);
        }
    }

    /// <summary>Threads that work on each job, counting the calling thread.</summary>
    public int DegreeOfParallelism { get; }

    /// <summary>Time an idle worker spins before it blocks.</summary>
    public TimeSpan SpinTime { get; }

    /// <summary>
    /// Runs <paramref name="job"/> over the indices 0 to <paramref name="length"/> − 1, split into chunks
    /// that the calling thread and the workers claim one at a time, and returns when all chunks are done.
    /// </summary>
    /// <param name="job">The job; it is read in place and must not be changed by its chunks.</param>
    /// <param name="length">Number of indices.</param>
    /// <param name="grainSize">
    /// Every chunk starts at a multiple of this size and, except the last, is a multiple of it long.
    /// </param>
    /// <exception cref="ObjectDisposedException">The pool was disposed.</exception>
    /// <remarks>
    /// If chunks throw, the remaining chunks are skipped and the first exception is rethrown to the caller
    /// with its original stack trace.
    /// </remarks>
    public void Run<TJob>(ref TJob job, int length, int grainSize = 1)
        where TJob : struct, IRangeJob, allows ref struct
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(grainSize);
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (length == 0)
        {
            return;
        }

        int chunkSize = ChooseChunkSize(length, grainSize);
        int chunkCount = (int)(((long)length + chunkSize - 1) / chunkSize);
        if (chunkCount == 1 || _threads.Length == 0 || t_jobDepth > 0)
        {
            RunOnCurrentThread(ref job, length, chunkSize);
            return;
        }

        lock (_runLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            RunOnPool(ref job, length, chunkSize, chunkCount);
        }
    }

    /// <summary>
    /// Stops the worker threads after the running job, if any, has finished. Must not be called from inside
    /// a job of this pool.
    /// </summary>
    public void Dispose()
    {
        lock (_runLock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        lock (_wakeLock)
        {
            Monitor.PulseAll(_wakeLock);
        }

        foreach (var thread in _threads)
        {
            if (thread != Thread.CurrentThread)
            {
                thread.Join();
            }
        }
    }

    private static WorkerPool CreateShared()
    {
        var pool = new WorkerPool();
        var existing = Interlocked.CompareExchange(ref s_shared, pool, null);
        if (existing is null)
        {
            return pool;
        }

        pool.Dispose();
        return existing;
    }

    private static void Invoke<TJob>(void* state, int start, int end)
        where TJob : struct, IRangeJob, allows ref struct =>
        Unsafe.AsRef<TJob>(state).Execute(start, end);

    private static void RunOnCurrentThread<TJob>(ref TJob job, int length, int chunkSize)
        where TJob : struct, IRangeJob, allows ref struct
    {
        t_jobDepth++;
        try
        {
            for (long start = 0; start < length; start += chunkSize)
            {
                job.Execute((int)start, (int)Math.Min(start + chunkSize, length));
            }
        }
        finally
        {
            t_jobDepth--;
        }
    }

    private int ChooseChunkSize(int length, int grainSize)
    {
        long target = ((long)length + (long)DegreeOfParallelism * ChunksPerParticipant - 1)
            / ((long)DegreeOfParallelism * ChunksPerParticipant);
        long rounded = (target + grainSize - 1) / grainSize * grainSize;
        return (int)Math.Min(Math.Max(rounded, grainSize), length);
    }

    private void RunOnPool<TJob>(ref TJob job, int length, int chunkSize, int chunkCount)
        where TJob : struct, IRangeJob, allows ref struct
    {
        // Close the previous job first, so that a late worker that read a ticket of that job fails to claim a
        // chunk once the fields below start to change.
        int generation = _generation;
        Interlocked.Exchange(ref _ticket, ((long)generation << 32) | ClosedChunk);

        _jobState = Unsafe.AsPointer(ref job);
        _invoke = &Invoke<TJob>;
        _length = length;
        _chunkSize = chunkSize;
        _chunkCount = chunkCount;
        _completed = 0;
        _faulted = 0;
        _error = null;

        generation = unchecked(generation + 1);
        Interlocked.Exchange(ref _ticket, (long)generation << 32);
        Interlocked.Exchange(ref _generation, generation);
        if (Volatile.Read(ref _sleepers) != 0)
        {
            lock (_wakeLock)
            {
                Monitor.PulseAll(_wakeLock);
            }
        }

        WorkOn(generation);
        WaitForCompletion(chunkCount);

        var error = _error;
        _error = null;
        _jobState = null;
        if (error is not null)
        {
            ExceptionDispatchInfo.Throw(error);
        }
    }

    private void WaitForCompletion(int chunkCount)
    {
        long deadline = Stopwatch.GetTimestamp() + _spinTicks;
        while (Volatile.Read(ref _completed) != chunkCount)
        {
            if (Stopwatch.GetTimestamp() > deadline)
            {
                lock (_doneLock)
                {
                    // The exchange is a full fence, so either the last worker reads the flag and pulses,
                    // or this thread reads its completion count.
                    Interlocked.Exchange(ref _callerWaiting, 1);
                    while (Volatile.Read(ref _completed) != chunkCount)
                    {
                        Monitor.Wait(_doneLock);
                    }

                    Volatile.Write(ref _callerWaiting, 0);
                }

                return;
            }

            Thread.SpinWait(1);
        }
    }

    private void WorkerLoop()
    {
        int seen = 0;
        while (true)
        {
            int generation = WaitForJob(seen);
            if (_disposed)
            {
                return;
            }

            seen = generation;
            WorkOn(generation);
        }
    }

    private int WaitForJob(int seen)
    {
        long deadline = Stopwatch.GetTimestamp() + _spinTicks;
        int generation;
        for (int spins = 0; ; spins++)
        {
            generation = Volatile.Read(ref _generation);
            if (generation != seen || _disposed)
            {
                return generation;
            }

            if ((spins & 15) == 15 && Stopwatch.GetTimestamp() > deadline)
            {
                break;
            }

            Thread.SpinWait(1);
        }

        lock (_wakeLock)
        {
            // The increment is a full fence, so either the caller reads a sleeper and pulses, or this
            // thread reads the new generation.
            Interlocked.Increment(ref _sleepers);
            try
            {
                while (true)
                {
                    generation = Volatile.Read(ref _generation);
                    if (generation != seen || _disposed)
                    {
                        return generation;
                    }

                    Monitor.Wait(_wakeLock);
                }
            }
            finally
            {
                Interlocked.Decrement(ref _sleepers);
            }
        }
    }

    private void WorkOn(int generation)
    {
        while (true)
        {
            long ticket = Volatile.Read(ref _ticket);
            if ((int)(ticket >> 32) != generation)
            {
                return;
            }

            int chunk = (int)ticket;
            int chunkCount = Volatile.Read(ref _chunkCount);
            if (chunk >= chunkCount)
            {
                return;
            }

            if (Interlocked.CompareExchange(ref _ticket, ticket + 1, ticket) == ticket)
            {
                RunChunk(chunk, chunkCount);
            }
        }
    }

    private void RunChunk(int chunk, int chunkCount)
    {
        if (Volatile.Read(ref _faulted) == 0)
        {
            int start = chunk * _chunkSize;
            int end = (int)Math.Min((long)start + _chunkSize, _length);
            t_jobDepth++;
            try
            {
                _invoke(_jobState, start, end);
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref _error, ex, null);
                Volatile.Write(ref _faulted, 1);
            }
            finally
            {
                t_jobDepth--;
            }
        }

        if (Interlocked.Increment(ref _completed) == chunkCount && Volatile.Read(ref _callerWaiting) != 0)
        {
            lock (_doneLock)
            {
                Monitor.PulseAll(_doneLock);
            }
        }
    }
}
