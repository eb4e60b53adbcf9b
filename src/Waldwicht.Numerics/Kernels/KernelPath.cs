using System.Runtime.Intrinsics;

namespace Waldwicht.Numerics.Kernels;

/// <summary>Widest vector width a kernel may use.</summary>
internal enum KernelPath
{
    /// <summary>Plain scalar code: the reference that every vector path is tested against.</summary>
    Scalar,

    /// <summary>128-bit vectors (SSE on x64, AdvSimd on ARM64).</summary>
    Vector128,

    /// <summary>256-bit vectors (AVX2), falling back to 128 bits for remainders.</summary>
    Vector256,

    /// <summary>512-bit vectors (AVX-512), falling back to 256 and 128 bits for remainders.</summary>
    Vector512,
}

/// <summary>Run-time choice of the kernel path.</summary>
internal static class KernelPaths
{
    /// <summary>
    /// The path that matrices created from now on use: by default the widest path this processor accelerates. Tests
    /// set another path to run a whole model, in software, through kernels this processor lacks.
    /// </summary>
    public static KernelPath Best { get; internal set; } = ChooseBest();

    /// <summary>Paths this processor accelerates, scalar first.</summary>
    public static IReadOnlyList<KernelPath> Supported { get; } =
        Enum.GetValues<KernelPath>().Where(IsAccelerated).ToArray();

    /// <summary>True when every vector width the path uses is hardware accelerated.</summary>
    public static bool IsAccelerated(KernelPath path) => path switch
    {
        KernelPath.Scalar => true,
        KernelPath.Vector128 => Vector128.IsHardwareAccelerated,
        KernelPath.Vector256 => Vector256.IsHardwareAccelerated && Vector128.IsHardwareAccelerated,
        KernelPath.Vector512 => Vector512.IsHardwareAccelerated && Vector256.IsHardwareAccelerated
            && Vector128.IsHardwareAccelerated,
        _ => false,
    };

    /// <summary>Lanes of 32-bit elements in the widest vector of the path.</summary>
    public static int Lanes(this KernelPath path) => path switch
    {
        KernelPath.Vector128 => 4,
        KernelPath.Vector256 => 8,
        KernelPath.Vector512 => 16,
        _ => 1,
    };

    private static KernelPath ChooseBest()
    {
        if (IsAccelerated(KernelPath.Vector512))
        {
            return KernelPath.Vector512;
        }

        if (IsAccelerated(KernelPath.Vector256))
        {
            return KernelPath.Vector256;
        }

        return IsAccelerated(KernelPath.Vector128) ? KernelPath.Vector128 : KernelPath.Scalar;
    }
}
