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

    // The --activations values and the precisions they select.
    private static readonly (string Name, ActivationPrecision Precision)[] s_activations =
    [
        ("f32", ActivationPrecision.Float32),
        ("int32", ActivationPrecision.Int32),
        ("int16", ActivationPrecision.Int16),
        ("int8", ActivationPrecision.Int8),
    ];

    /// <summary>Sets the activation precision of quantized matrices loaded afterwards, when the option is given.</summary>
    public static void ApplyActivations(string? activations)
    {
        if (activations is null)
        {
            return;
        }

        foreach (var (name, precision) in s_activations)
        {
            if (name == activations)
            {
                QuantizedMatrix.DefaultActivationPrecision = precision;
                return;
            }
        }

        throw new CliException($"--activations must be f32, int32, int16 or int8; got '{activations}'.");
    }

    /// <summary>Returns the --activations value that selects <paramref name="precision"/>.</summary>
    public static string ActivationsName(ActivationPrecision precision) =>
        Array.Find(s_activations, entry => entry.Precision == precision).Name ?? "f32";
}
