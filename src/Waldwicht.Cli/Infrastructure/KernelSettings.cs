namespace Waldwicht.Cli.Infrastructure;

/// <summary>Applies the --threads option to the kernels' worker pool.</summary>
internal static class KernelSettings
{
    public static void Apply(int? threads)
    {
        if (threads is int count && count <= 0)
        {
            throw new CliException($"--threads must be positive; got {count}.");
        }

        // NOTE: the worker pool of the kernels is configured here once it exposes a thread count.
    }
}
