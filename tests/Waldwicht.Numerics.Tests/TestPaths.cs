using Waldwicht.Numerics.Kernels;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Tests;

/// <summary>
/// Theory data over the kernel paths: the scalar path, the paths this processor accelerates, and on x64 the 512-bit
/// path, which runs in software where AVX-512 is missing.
/// </summary>
internal static class TestPaths
{
    public static readonly int[] BitWidths = [2, 3, 4, 5, 6, 8];

    public static readonly int[] GroupSizes = [32, 64, 128];

    public static readonly ElementType[] ElementTypes = [ElementType.F32, ElementType.BF16, ElementType.F16];

    /// <summary>Names of the paths to test; test methods take names because the enum is internal.</summary>
    public static IEnumerable<string> Tested => Paths().Select(p => p.ToString());

    private static IEnumerable<KernelPath> Paths()
    {
        var paths = KernelPaths.Supported.ToList();
        if (System.Runtime.Intrinsics.X86.Avx2.IsSupported && !paths.Contains(KernelPath.Vector512))
        {
            paths.Add(KernelPath.Vector512);
        }

        return paths;
    }

    public static KernelPath Parse(string name) => Enum.Parse<KernelPath>(name);

    /// <summary>
    /// A column count that leaves work for every region of the lane plan (16, 8 and 4 lanes and the scalar
    /// tail) for most bit widths: 992 = 512 + 256 + 128 + 96 codes for 3, 5 and 6 bits.
    /// </summary>
    public static int OddColumns(int groupSize) => groupSize switch
    {
        32 => 992,
        64 => 960,
        _ => 1920,
    };

    public static void AssertClose(double expected, double actual, double tolerance, string context)
    {
        double error = Math.Abs(expected - actual);
        Assert.True(
            error <= tolerance,
            $"{context}: expected {expected:R}, got {actual:R}, error {error:E3} exceeds {tolerance:E3}.");
    }
}
