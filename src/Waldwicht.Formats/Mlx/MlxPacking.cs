namespace Waldwicht.Formats.Mlx;

/// <summary>
/// Bit packing of MLX affine codes. A row of codes is one continuous little-endian bit stream
/// stored in uint32 words: code i occupies bits [i·bits, (i + 1)·bits), least significant bit
/// first, so 3-, 5- and 6-bit codes straddle word boundaries. Every MLX kernel agrees with this
/// layout for all widths (2, 3, 4, 5, 6 and 8 bits).
/// </summary>
public static class MlxPacking
{
    /// <summary>Number of uint32 words that hold <paramref name="count"/> codes of <paramref name="bits"/> bits (rounded up).</summary>
    public static int WordCount(int count, int bits)
    {
        ValidateBits(bits);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        return (int)(((long)count * bits + 31) / 32);
    }

    /// <summary>
    /// Packs codes into words; the unused high bits of a last partial word are zero.
    /// <paramref name="words"/> must have exactly <see cref="WordCount"/> elements.
    /// </summary>
    /// <exception cref="ArgumentException">A code does not fit in <paramref name="bits"/> bits, or a span length is wrong.</exception>
    public static void Pack(ReadOnlySpan<byte> codes, int bits, Span<uint> words)
    {
        int wordCount = WordCount(codes.Length, bits);
        if (words.Length != wordCount)
        {
            throw new ArgumentException(
                $"{codes.Length} codes of {bits} bits need {wordCount} words, but the destination has {words.Length}.", nameof(words));
        }

        uint limit = (1u << bits) - 1;
        ulong pending = 0;
        int pendingBits = 0;
        int word = 0;
        for (int i = 0; i < codes.Length; i++)
        {
            uint code = codes[i];
            if (code > limit)
            {
                throw new ArgumentException($"Code {code} at index {i} does not fit in {bits} bits (maximum {limit}).", nameof(codes));
            }

            pending |= (ulong)code << pendingBits;
            pendingBits += bits;
            if (pendingBits >= 32)
            {
                words[word++] = (uint)pending;
                pending >>= 32;
                pendingBits -= 32;
            }
        }

        if (pendingBits > 0)
        {
            words[word] = (uint)pending;
        }
    }

    /// <summary>
    /// Unpacks codes from words. <paramref name="words"/> must have exactly
    /// <see cref="WordCount"/> elements for <paramref name="codes"/>.Length codes.
    /// </summary>
    /// <exception cref="ArgumentException">A span length is wrong.</exception>
    public static void Unpack(ReadOnlySpan<uint> words, int bits, Span<byte> codes)
    {
        int wordCount = WordCount(codes.Length, bits);
        if (words.Length != wordCount)
        {
            throw new ArgumentException(
                $"{codes.Length} codes of {bits} bits are stored in {wordCount} words, but the source has {words.Length}.", nameof(words));
        }

        uint mask = (1u << bits) - 1;
        ulong pending = 0;
        int pendingBits = 0;
        int word = 0;
        for (int i = 0; i < codes.Length; i++)
        {
            if (pendingBits < bits)
            {
                pending |= (ulong)words[word++] << pendingBits;
                pendingBits += 32;
            }

            codes[i] = (byte)(pending & mask);
            pending >>= bits;
            pendingBits -= bits;
        }
    }

    /// <summary>Reads code <paramref name="index"/> of a packed row.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The code lies beyond the end of <paramref name="words"/>.</exception>
    public static int GetCode(ReadOnlySpan<uint> words, int bits, int index)
    {
        ValidateBits(bits);
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        long bit = (long)index * bits;
        int word = (int)(bit >> 5);
        int shift = (int)(bit & 31);
        if (word >= words.Length || (shift + bits > 32 && word + 1 >= words.Length))
        {
            throw new ArgumentOutOfRangeException(nameof(index), index, $"Code {index} of {bits} bits lies beyond the {words.Length} packed words.");
        }

        ulong pair = words[word];
        if (shift + bits > 32)
        {
            pair |= (ulong)words[word + 1] << 32;
        }

        return (int)((pair >> shift) & ((1u << bits) - 1));
    }

    internal static void ValidateBits(int bits)
    {
        if (!QuantizationParameters.SupportedBits.Contains(bits))
        {
            throw new ArgumentOutOfRangeException(nameof(bits), bits, "MLX affine codes have 2, 3, 4, 5, 6 or 8 bits.");
        }
    }
}
