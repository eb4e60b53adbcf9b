using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// Per-thread pinned float buffers that grow on demand and are then reused, so that kernels allocate
/// nothing per call once warm. Each slot serves one purpose, and a kernel must not hold a slot across a call
/// that may use the same slot on the same thread.
/// </summary>
internal static unsafe class ThreadScratch
{
    [ThreadStatic]
    private static float[]? t_tile;

    [ThreadStatic]
    private static float[]? t_rowParameters;

    [ThreadStatic]
    private static float[]? t_activations;

    /// <summary>Buffer for a block of dequantized or widened weight rows.</summary>
    public static float* Tile(int length) => Get(ref t_tile, length);

    /// <summary>Buffer for one row's scales and biases.</summary>
    public static float* RowParameters(int length) => Get(ref t_rowParameters, length);

    /// <summary>64-byte aligned buffer for quantized activations, held by the thread that calls a product.</summary>
    public static byte* Activations(long bytes)
    {
        float* start = Get(ref t_activations, checked((int)((bytes + 63) / sizeof(float) + 16)));
        return (byte*)(((nint)start + 63) & ~(nint)63);
    }

    private static float* Get(ref float[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length)
        {
            buffer = GC.AllocateUninitializedArray<float>(Math.Max(length, 256), pinned: true);
        }

        return (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(buffer));
    }
}
