using System.Buffers.Binary;

namespace Waldwicht.Formats.Gguf;

/// <summary>
/// Converts float rows to and from GGML storage types. The block formats reproduce ggml's
/// reference quantizers (quantize_row_q4_0_ref, quantize_row_q5_0_ref and quantize_row_q8_0_ref in
/// ggml/src/ggml-quants.c), which llama.cpp's converter and llama-quantize use when no importance
/// matrix is given, so the same input gives the same bytes.
/// </summary>
/// <remarks>
/// Every block of 32 weights stores d as binary16 followed by codes. The symmetric types decode as
/// w = d·(q − z), Q4_1 and Q5_1 as w = d·q + min:
/// <list type="bullet">
/// <item>Q8_0: d = max|x|/127, q = round(x/d) (half away from zero), z = 0; 32 signed bytes.</item>
/// <item>Q4_0: m = the element of largest magnitude (first one on ties), d = m/−8,
/// q = min(15, trunc(x/d + 8.5)), z = 8; byte j contains q[j] in its low and q[j+16] in its high nibble.</item>
/// <item>Q5_0: d = m/−16, q = min(31, trunc(x/d + 16.5)), z = 16; the low nibbles are packed as in
/// Q4_0 and bit 4 of q[j] is bit j of a little-endian uint32 stored before them.</item>
/// <item>Q4_1: d = (max − min)/15 over the block, the minimum stored as binary16 after d,
/// q = min(15, trunc((x − min)/d + 0.5)); nibbles packed as in Q4_0.</item>
/// <item>Q5_1: d = (max − min)/31, the minimum after d, q = trunc((x − min)/d + 0.5); the fifth bits
/// and the nibbles laid out as in Q5_0, after d and the minimum.</item>
/// </list>
/// The scale and minimum are rounded to binary16 for storage, but the codes are computed with the
/// unrounded values, as the reference does. All arithmetic is single precision without fused multiply-add.
/// </remarks>
public static class GgmlQuantization
{
    private const int BlockSize = 32;

    /// <summary>Encodes a row of floats as <paramref name="type"/>.</summary>
    /// <param name="source">The row; its length must be a multiple of the type's block size.</param>
    /// <param name="destination">Exactly <see cref="GgmlTypeExtensions.RowBytes"/> bytes.</param>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> source, Span<byte> destination)
    {
        CheckLengths(type, source.Length, destination.Length);
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(destination[(i * 4)..], source[i]);
                }

                break;
            case GgmlType.F16:
                for (int i = 0; i < source.Length; i++)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(destination[(i * 2)..], (Half)source[i]);
                }

                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < source.Length / BlockSize; b++)
                {
                    QuantizeQ8_0Block(source.Slice(b * BlockSize, BlockSize), destination.Slice(b * 34, 34));
                }

                break;
            case GgmlType.Q5_0:
                for (int b = 0; b < source.Length / BlockSize; b++)
                {
                    QuantizeQ5_0Block(source.Slice(b * BlockSize, BlockSize), destination.Slice(b * 22, 22));
                }

                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < source.Length / BlockSize; b++)
                {
                    QuantizeQ4_0Block(source.Slice(b * BlockSize, BlockSize), destination.Slice(b * 18, 18));
                }

                break;
            case GgmlType.Q4_1 or GgmlType.Q5_1:
                int bits = CodeBits(type);
                int blockBytes = type.BlockBytes();
                for (int b = 0; b < source.Length / BlockSize; b++)
                {
                    QuantizeWithMinimumBlock(
                        source.Slice(b * BlockSize, BlockSize), destination.Slice(b * blockBytes, blockBytes), bits);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Unsupported GGML type.");
        }
    }

    /// <summary>Decodes a row stored as <paramref name="type"/> into floats.</summary>
    /// <exception cref="ArgumentException">A length does not match.</exception>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> source, Span<float> destination)
    {
        CheckLengths(type, destination.Length, source.Length);
        switch (type)
        {
            case GgmlType.F32:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
                }

                break;
            case GgmlType.F16:
                for (int i = 0; i < destination.Length; i++)
                {
                    destination[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(source[(i * 2)..]);
                }

                break;
            case GgmlType.Q8_0:
                for (int b = 0; b < destination.Length / BlockSize; b++)
                {
                    var block = source.Slice(b * 34, 34);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    for (int j = 0; j < BlockSize; j++)
                    {
                        destination[(b * BlockSize) + j] = (sbyte)block[2 + j] * d;
                    }
                }

                break;
            case GgmlType.Q5_0:
                for (int b = 0; b < destination.Length / BlockSize; b++)
                {
                    var block = source.Slice(b * 22, 22);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    uint high = BinaryPrimitives.ReadUInt32LittleEndian(block[2..]);
                    for (int j = 0; j < BlockSize / 2; j++)
                    {
                        int low0 = block[6 + j] & 0x0F;
                        int low1 = block[6 + j] >> 4;
                        int q0 = low0 | (int)(((high >> j) & 1) << 4);
                        int q1 = low1 | (int)(((high >> (j + 16)) & 1) << 4);
                        destination[(b * BlockSize) + j] = (q0 - 16) * d;
                        destination[(b * BlockSize) + j + 16] = (q1 - 16) * d;
                    }
                }

                break;
            case GgmlType.Q4_0:
                for (int b = 0; b < destination.Length / BlockSize; b++)
                {
                    var block = source.Slice(b * 18, 18);
                    float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
                    for (int j = 0; j < BlockSize / 2; j++)
                    {
                        destination[(b * BlockSize) + j] = ((block[2 + j] & 0x0F) - 8) * d;
                        destination[(b * BlockSize) + j + 16] = ((block[2 + j] >> 4) - 8) * d;
                    }
                }

                break;
            case GgmlType.Q4_1 or GgmlType.Q5_1:
                int bits = CodeBits(type);
                int blockBytes = type.BlockBytes();
                for (int b = 0; b < destination.Length / BlockSize; b++)
                {
                    DequantizeWithMinimumBlock(
                        source.Slice(b * blockBytes, blockBytes), destination.Slice(b * BlockSize, BlockSize), bits);
                }

                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, "Unsupported GGML type.");
        }
    }

    private static void QuantizeQ8_0Block(ReadOnlySpan<float> x, Span<byte> block)
    {
        float amax = 0f;
        for (int j = 0; j < BlockSize; j++)
        {
            amax = MathF.Max(amax, MathF.Abs(x[j]));
        }

        float d = amax / 127f;
        float id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        for (int j = 0; j < BlockSize; j++)
        {
            block[2 + j] = unchecked((byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero));
        }
    }

    private static void QuantizeQ4_0Block(ReadOnlySpan<float> x, Span<byte> block)
    {
        float max = SignedAbsoluteMaximum(x);
        float d = max / -8f;
        float id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        for (int j = 0; j < BlockSize / 2; j++)
        {
            int q0 = Math.Min(15, (int)((x[j] * id) + 8.5f));
            int q1 = Math.Min(15, (int)((x[j + 16] * id) + 8.5f));
            block[2 + j] = (byte)(q0 | (q1 << 4));
        }
    }

    private static void QuantizeQ5_0Block(ReadOnlySpan<float> x, Span<byte> block)
    {
        float max = SignedAbsoluteMaximum(x);
        float d = max / -16f;
        float id = d != 0f ? 1f / d : 0f;
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        uint high = 0;
        for (int j = 0; j < BlockSize / 2; j++)
        {
            int q0 = Math.Min(31, (int)((x[j] * id) + 16.5f));
            int q1 = Math.Min(31, (int)((x[j + 16] * id) + 16.5f));
            block[6 + j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            high |= (uint)((q0 >> 4) & 1) << j;
            high |= (uint)((q1 >> 4) & 1) << (j + 16);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(block[2..], high);
    }

    /// <summary>
    /// Writes one Q4_1 or Q5_1 block from codes that are already chosen, so that it decodes as
    /// w[j] = codes[j]·scale + minimum with the scale and minimum rounded to binary16. This carries
    /// affine-quantized weights of at most that width over without quantizing them a second time.
    /// </summary>
    /// <param name="type"><see cref="GgmlType.Q4_1"/> or <see cref="GgmlType.Q5_1"/>.</param>
    /// <param name="codes">32 codes below 16 (Q4_1) or 32 (Q5_1).</param>
    /// <param name="scale">The step between codes, d.</param>
    /// <param name="minimum">The value of code 0.</param>
    /// <param name="block">Exactly <see cref="GgmlTypeExtensions.BlockBytes"/> bytes.</param>
    /// <exception cref="ArgumentException">The type has no minimum, or a length does not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A code does not fit the type's width.</exception>
    public static void EncodeBlockWithMinimum(GgmlType type, ReadOnlySpan<byte> codes, float scale, float minimum, Span<byte> block)
    {
        if (type is not (GgmlType.Q4_1 or GgmlType.Q5_1))
        {
            throw new ArgumentException($"{type.DisplayName()} blocks have no minimum; use q4_1 or q5_1.", nameof(type));
        }

        int bits = CodeBits(type);
        if (codes.Length != BlockSize)
        {
            throw new ArgumentException($"A {type.DisplayName()} block has {BlockSize} codes; got {codes.Length}.", nameof(codes));
        }

        if (block.Length != type.BlockBytes())
        {
            throw new ArgumentException($"A {type.DisplayName()} block takes {type.BlockBytes()} bytes; the buffer has {block.Length}.", nameof(block));
        }

        for (int j = 0; j < BlockSize; j++)
        {
            if (codes[j] >> bits != 0)
            {
                throw new ArgumentOutOfRangeException(nameof(codes), codes[j], $"Code {j} does not fit in {bits} bits.");
            }
        }

        PackBlockWithMinimum(codes, scale, minimum, block, bits);
    }

    // Bits per code of the types that store a minimum.
    private static int CodeBits(GgmlType type) => type == GgmlType.Q4_1 ? 4 : 5;

    // Q4_1 and Q5_1 as ggml's reference quantizer computes them: the codes use the unrounded minimum and 1/d.
    private static void QuantizeWithMinimumBlock(ReadOnlySpan<float> x, Span<byte> block, int bits)
    {
        float min = float.MaxValue;
        float max = float.MinValue;
        for (int j = 0; j < BlockSize; j++)
        {
            // Comparisons as in ggml: a NaN never becomes the minimum or the maximum.
            if (x[j] < min)
            {
                min = x[j];
            }

            if (x[j] > max)
            {
                max = x[j];
            }
        }

        float d = (max - min) / ((1 << bits) - 1);
        float id = d != 0f ? 1f / d : 0f;
        Span<byte> codes = stackalloc byte[BlockSize];
        for (int j = 0; j < BlockSize; j++)
        {
            int q = (int)(((x[j] - min) * id) + 0.5f);
            codes[j] = (byte)(bits == 4 ? Math.Min(15, q) : q);
        }

        PackBlockWithMinimum(codes, d, min, block, bits);
    }

    // d and the minimum as binary16, for 5 bits the fifth bits as a little-endian uint32, then the nibbles: code j
    // in the low and code j + 16 in the high nibble of byte j.
    private static void PackBlockWithMinimum(ReadOnlySpan<byte> codes, float d, float min, Span<byte> block, int bits)
    {
        BinaryPrimitives.WriteHalfLittleEndian(block, (Half)d);
        BinaryPrimitives.WriteHalfLittleEndian(block[2..], (Half)min);
        var nibbles = block[(bits == 5 ? 8 : 4)..];
        uint high = 0;
        for (int j = 0; j < BlockSize / 2; j++)
        {
            int q0 = codes[j];
            int q1 = codes[j + 16];
            nibbles[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
            high |= (uint)((q0 >> 4) & 1) << j;
            high |= (uint)((q1 >> 4) & 1) << (j + 16);
        }

        if (bits == 5)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(block[4..], high);
        }
    }

    private static void DequantizeWithMinimumBlock(ReadOnlySpan<byte> block, Span<float> destination, int bits)
    {
        float d = (float)BinaryPrimitives.ReadHalfLittleEndian(block);
        float min = (float)BinaryPrimitives.ReadHalfLittleEndian(block[2..]);
        uint high = bits == 5 ? BinaryPrimitives.ReadUInt32LittleEndian(block[4..]) : 0;
        var nibbles = block[(bits == 5 ? 8 : 4)..];
        for (int j = 0; j < BlockSize / 2; j++)
        {
            int q0 = (nibbles[j] & 0x0F) | (int)(((high >> j) & 1) << 4);
            int q1 = (nibbles[j] >> 4) | (int)(((high >> (j + 16)) & 1) << 4);
            destination[j] = (q0 * d) + min;
            destination[j + 16] = (q1 * d) + min;
        }
    }

    // The element of largest magnitude with its sign; the first one wins on ties, as in ggml.
    private static float SignedAbsoluteMaximum(ReadOnlySpan<float> x)
    {
        float amax = 0f;
        float max = 0f;
        for (int j = 0; j < x.Length; j++)
        {
            float magnitude = MathF.Abs(x[j]);
            if (amax < magnitude)
            {
                amax = magnitude;
                max = x[j];
            }
        }

        return max;
    }

    private static void CheckLengths(GgmlType type, int elements, int bytes)
    {
        if (!type.CanStoreRow(elements) && elements != 0)
        {
            throw new ArgumentException(
                $"A {type.DisplayName()} row needs a multiple of {type.BlockSize()} elements; got {elements}.");
        }

        long expected = type.RowBytes(elements);
        if (bytes != expected)
        {
            throw new ArgumentException(
                $"{elements} {type.DisplayName()} elements take {expected} bytes; the buffer has {bytes}.");
        }
    }
}
