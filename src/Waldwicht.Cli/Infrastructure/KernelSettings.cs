using Waldwicht.Numerics.Matrices;
using Waldwicht.Numerics.Threading;

namespace Waldwicht.Cli.Infrastructure;

/// <summary>Applies the --threads and --activations options to the kernels.</summary>
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

    /// <summary>Sets the activation precision of quantized matrices loaded afterwards, when the option is given.</summary>
    public static void ApplyActivations(string? activations)
    {
        if (activations is null)
        {
            return;
        }

        if (!ActivationPrecisionNames.TryParse(activations, out var precision))
        {
            throw new CliException($"--activations must be {ActivationPrecisionNames.Choices}; got '{activations}'.");
        }

        QuantizedMatrix.DefaultActivationPrecision = precision;
    }
}
