using Waldwicht.Numerics.Threading;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Applies the --threads option to the kernels' shared worker pool.</summary>
internal static class KernelSettings
{
    /// <summary>Replaces the shared pool when a thread count is given and returns the count in use.</summary>
    public static int Apply(int? threads)
    {
        if (threads is int count)
        {
            if (count <= 0)
            {
                throw new CliException($"--threads must be positive; got {count}.");
            }

            WorkerPool.Shared = new WorkerPool(count);
        }

        return WorkerPool.Shared.DegreeOfParallelism;
    }
}
