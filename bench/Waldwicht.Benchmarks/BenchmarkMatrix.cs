using System.Runtime.InteropServices;
using Waldwicht.Numerics;
using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Benchmarks;

/// <summary>A random weight matrix in native memory, as a memory-mapped checkpoint would provide it.</summary>
internal sealed unsafe class BenchmarkMatrix : IDisposable
{
    private readonly List<nint> _allocations = [];

    private BenchmarkMatrix()
    {
    }

    public WeightMatrix Matrix { get; private set; } = null!;

    /// <summary>
    /// Random codes with scales and biases of MLX's typical magnitude, multiplied with activations of
    /// <paramref name="precision"/> (float unless given).
    /// </summary>
    public static BenchmarkMatrix Quantized(
        int rows,
        int columns,
        int bits,
        int groupSize,
        ElementType scaleType,
        string path,
        ActivationPrecision precision = ActivationPrecision.Float32)
    {
        var result = new BenchmarkMatrix();
        long packedBytes = (long)rows * columns * bits / 8;
        nint packed = result.Allocate(packedBytes);
        Random.Shared.NextBytes(new Span<byte>((void*)packed, checked((int)packedBytes)));

        int groups = rows * (columns / groupSize);
        nint scales = result.Allocate((long)groups * scaleType.Size());
        nint biases = result.Allocate((long)groups * scaleType.Size());
        for (int g = 0; g < groups; g++)
        {
            Store(scales, scaleType, g, (Random.Shared.NextSingle() - 0.5f) * 0.02f);
            Store(biases, scaleType, g, (Random.Shared.NextSingle() - 0.5f) * 0.2f);
        }

        result.Matrix = new QuantizedMatrix(packed, scales, biases, scaleType, rows, columns, bits, groupSize)
        {
            KernelPath = Enum.Parse<KernelPath>(path),
            ActivationPrecision = precision,
        };
        return result;
    }

    /// <summary>Random values in [−0.1, 0.1).</summary>
    public static BenchmarkMatrix Dense(int rows, int columns, ElementType type, string path)
    {
        var result = new BenchmarkMatrix();
        long count = (long)rows * columns;
        nint data = result.Allocate(count * type.Size());
        for (long i = 0; i < count; i++)
        {
            Store(data, type, i, (Random.Shared.NextSingle() - 0.5f) * 0.2f);
        }

        result.Matrix = new DenseMatrix(data, type, rows, columns) { KernelPath = Enum.Parse<KernelPath>(path) };
        return result;
    }

    /// <summary>Kernel paths to compare: the scalar reference and every vector width this processor accelerates.</summary>
    public static IEnumerable<string> Paths() => KernelPaths.Supported.Select(p => p.ToString());

    /// <summary>The scalar reference and the path the product code uses.</summary>
    public static IEnumerable<string> ScalarAndBest() =>
        new[] { KernelPath.Scalar, KernelPaths.Best }.Distinct().Select(p => p.ToString());

    /// <summary>One thread, and one per processor.</summary>
    public static IEnumerable<int> ThreadCounts() => new[] { 1, Environment.ProcessorCount }.Distinct();

    public static (int Rows, int Columns) ParseShape(string shape)
    {
        var parts = shape.Split('x');
        return (int.Parse(parts[0]), int.Parse(parts[1]));
    }

    public void Dispose()
    {
        foreach (nint allocation in _allocations)
        {
            NativeMemory.AlignedFree((void*)allocation);
        }

        _allocations.Clear();
    }

    private static void Store(nint array, ElementType type, long index, float value)
    {
        switch (type)
        {
            case ElementType.F32:
                ((float*)array)[index] = value;
                break;
            case ElementType.BF16:
                ((ushort*)array)[index] = BFloat16.FromSingle(value);
                break;
            default:
                ((Half*)array)[index] = (Half)value;
                break;
        }
    }

    private nint Allocate(long bytes)
    {
        nint pointer = (nint)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        _allocations.Add(pointer);
        return pointer;
    }
}
