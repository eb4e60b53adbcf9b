using System.Runtime.CompilerServices;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>Pointers and shape of an MLX affine-quantized matrix, as the kernels read it.</summary>
internal readonly unsafe struct QuantizedLayout
{
    public readonly uint* Packed;
    public readonly void* Scales;
    public readonly void* Biases;
    public readonly ElementType ScaleType;
    public readonly int Rows;
    public readonly int Columns;
    public readonly int Bits;
    public readonly int GroupSize;
    public readonly int WordsPerRow;
    public readonly int GroupsPerRow;

    public QuantizedLayout(
        nint packed, nint scales, nint biases, ElementType scaleType, int rows, int columns, int bits, int groupSize)
    {
        Packed = (uint*)packed;
        Scales = (void*)scales;
        Biases = (void*)biases;
        ScaleType = scaleType;
        Rows = rows;
        Columns = columns;
        Bits = bits;
        GroupSize = groupSize;
        WordsPerRow = columns / 32 * bits;
        GroupsPerRow = columns / groupSize;
    }

    /// <summary>The packed words of a row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint* RowWords(int row) => Packed + (long)row * WordsPerRow;

    /// <summary>Reads one scale or bias as float.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public float LoadParameter(void* array, long index) => ScaleType switch
    {
        ElementType.F32 => ((float*)array)[index],
        ElementType.BF16 => BFloat16.ToSingle(((ushort*)array)[index]),
        _ => (float)((Half*)array)[index],
    };

    /// <summary>Extracts code <paramref name="index"/> of a row's LSB-first bit stream.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint ExtractCode(uint* words, int index, int bits)
    {
        int bitPosition = index * bits;
        int word = bitPosition >> 5;
        int shift = bitPosition & 31;
        ulong window = words[word];
        if (shift + bits > 32)
        {
            window |= (ulong)words[word + 1] << 32;
        }

        return (uint)(window >> shift) & ((1u << bits) - 1);
    }
}

/// <summary>A code width known when the kernel is compiled, so that shifts and loop bounds are constants.</summary>
internal interface IBitWidth
{
    static abstract int Bits { get; }

    /// <summary>Largest number of codes wholly inside one uint32 word (see <see cref="CodePlan.FullSteps"/>).</summary>
    static abstract int FullSteps { get; }
}

internal readonly struct Bits2 : IBitWidth
{
    public static int Bits => 2;

    public static int FullSteps => 16;
}

internal readonly struct Bits3 : IBitWidth
{
    public static int Bits => 3;

    public static int FullSteps => 10;
}

internal readonly struct Bits4 : IBitWidth
{
    public static int Bits => 4;

    public static int FullSteps => 8;
}

internal readonly struct Bits5 : IBitWidth
{
    public static int Bits => 5;

    public static int FullSteps => 6;
}

internal readonly struct Bits6 : IBitWidth
{
    public static int Bits => 6;

    public static int FullSteps => 5;
}

internal readonly struct Bits8 : IBitWidth
{
    public static int Bits => 8;

    public static int FullSteps => 4;
}
