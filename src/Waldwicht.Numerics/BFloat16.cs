using System.Runtime.CompilerServices;

namespace Waldwicht.Numerics;

/// <summary>
/// Conversions between bfloat16 (the upper 16 bits of an IEEE binary32) and <see cref="float"/>.
/// </summary>
public static class BFloat16
{
    /// <summary>Widens a bfloat16 bit pattern to float; exact for every value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Rounds a float to the nearest bfloat16, ties to even; NaN stays a quiet NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ushort FromSingle(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value);
        if ((bits & 0x7FFF_FFFF) > 0x7F80_0000)
        {
            return (ushort)((bits >> 16) | 0x0040);
        }

        uint roundingBias = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + roundingBias) >> 16);
    }

    /// <summary>Rounds a float to bfloat16 precision and widens it back.</summary>
    public static float Round(float value) => ToSingle(FromSingle(value));

    /// <summary>Widens a span of bfloat16 bit patterns to floats.</summary>
    public static void ToSingle(ReadOnlySpan<ushort> source, Span<float> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(destination));
        }

        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = ToSingle(source[i]);
        }
    }

    /// <summary>Rounds a span of floats to bfloat16 bit patterns, ties to even.</summary>
    public static void FromSingle(ReadOnlySpan<float> source, Span<ushort> destination)
    {
        if (destination.Length < source.Length)
        {
            throw new ArgumentException("Destination is shorter than the source.", nameof(destination));
        }

        for (int i = 0; i < source.Length; i++)
        {
            destination[i] = FromSingle(source[i]);
        }
    }
}
