namespace Waldwicht.Numerics.Threading;

/// <summary>
/// A job that <see cref="WorkerPool.Run{TJob}(ref TJob, int, int)"/> splits into index ranges and runs on
/// several threads at once. Implementations are usually structs or ref structs that hold pointers or spans.
/// </summary>
public interface IRangeJob
{
    /// <summary>Processes the indices <paramref name="start"/> (inclusive) to <paramref name="end"/> (exclusive).</summary>
    void Execute(int start, int end);
}
