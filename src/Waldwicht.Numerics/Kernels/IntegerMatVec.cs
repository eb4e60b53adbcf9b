using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Waldwicht.Numerics.Matrices;

namespace Waldwicht.Numerics.Kernels;

/// <summary>
/// Matrix-vector kernels that multiply the integer codes of MLX affine-quantized rows with quantized activations
/// (<see cref="QuantizedActivations"/>) and compute Σ_g (scale_g·d_g)·Σ(code·q) + Σ_g bias_g·Σx_g, the same sum
/// as <see cref="QuantizedReference.DotRowQuantized"/>.
/// </summary>
/// <remarks>
/// <para>
/// The general kernels unpack codes in registers, in natural order, into 16-bit lanes. Eight codes of b bits fill exactly b bytes,
/// and a code never spans more than two bytes, so one byte shuffle puts into each 16-bit lane the two bytes that
/// hold its code. A multiply by 2^(16−s−b), where s is the code's bit offset in the lower byte, moves the code to
/// the top b bits, and a logical right shift by 16−b leaves it alone in the lane. The same three steps serve
/// every bit width, including the widths whose codes straddle uint32 words (3, 5 and 6 bits). The AVX2 kernels for
/// 4-bit codes skip the shuffle and the multiply: a shift and a mask take each nibble out of its 16-bit word or
/// byte, and <see cref="PrepareCodes"/> reorders the activations to match once per call.
/// </para>
/// <para>
/// Integer sums are exact: a group of at most 128 products of codes ≤ 255 with |q| ≤ 32767 stays below 2^31.
/// The per-lane int32 sums of each group (of each 64-column block in the 4-bit kernels) are converted to float and
/// scaled, so results differ from the reference only in the float rounding and summation order.
/// </para>
/// <para>
/// With <see cref="ActivationPrecision.Int32"/>, the 16-bit kernels multiply each unpacked code vector with the
/// codes and with the low codes, into two sums per group; the low sum is scaled by 2^−15 at the end. Unpacking
/// is shared, so the cost over int16 is one more multiply-add per 16 codes, and the result is as exact as the
/// float kernels. The AVX2 kernels for codes of fewer than 8 bits round the low codes to signed bytes in units of
/// 129 (<see cref="PrepareCodes"/>) and multiply them with the codes as bytes by vpmaddubsw, which takes 32 pairs
/// where vpmaddwd takes 16. The byte is off from the low code by at most 64.5 units, 0.002 of the activation
/// scale or 6e-8 of the group's largest value, about float32's own rounding.
/// </para>
/// <para>
/// With int8 activations, the AVX2 byte kernel packs the codes of 32 columns into bytes and multiplies them
/// with the activations by vpmaddubsw, or vpdpbusd where AVX-VNNI exists. vpmaddubsw saturates pair sums at
/// int16, which 8-bit codes (2·255·127 > 32767) could reach, so 8-bit codes always take the 16-bit kernel, whose
/// products are exact for int8 activations as well.
/// </para>
/// <para>
/// NOTE: the AVX2 and SSE branches have run on x64 hardware, and the ARM64 AdvSimd branches under QEMU
/// (scripts/test-arm64.sh), which checks their results but not their speed. The AVX-VNNI branches (vpdpwssd,
/// vpdpbusd) and the portable fallback compile but are untested, and the Vector512 path runs the AVX2 kernels
/// because no AVX-512 integer kernel exists yet. On ARM64 with the dot-product extension (Dp), int8 activations
/// and codes of fewer than 8 bits take sdot kernels, which have run under QEMU but have not been timed on
/// hardware. Other processors without AVX2 take the 16-bit kernel for int8, which is exact but no faster.
/// </para>
/// </remarks>
internal static unsafe class IntegerMatVec
{
    // Bytes past a row's end that the vector loads may touch, because they read 16 or 32 bytes where the last
    // step needs fewer.
    private const int LoadSlack = 16;

    // Low codes per unit of the signed byte that carries them in the AVX2 kernels (see LowByte).
    private const int LowByteUnit = 129;

    /// <summary>Floats of scratch that <see cref="MatVecRows"/> needs per thread.</summary>
    public static int ScratchLength(in QuantizedLayout matrix) =>
        2 * (matrix.GroupsPerRow + 16) + matrix.WordsPerRow + LoadSlack / sizeof(float);

    /// <summary>Bytes of reordered activation codes that <see cref="PrepareCodes"/> may write.</summary>
    public static long PreparedBytes(int columns) => 2 * PreparedStride(columns) * sizeof(short);

    // Distance, in shorts, from the reordered codes to the reordered low codes.
    private static long PreparedStride(int columns) => columns + 64;

    /// <summary>
    /// Writes the activation codes in the order that the kernel for this path, bit width and precision reads, and
    /// returns <paramref name="destination"/>; or returns null when that kernel reads
    /// <see cref="QuantizedActivations.Codes"/> as they are. <paramref name="destination"/> must hold
    /// <see cref="PreparedBytes"/> bytes. Low codes, where the precision has them, follow the codes
    /// (as signed bytes for the AVX2 kernels with codes of fewer than 8 bits).
    /// </summary>
    public static void* PrepareCodes(
        KernelPath path, int bits, ActivationPrecision precision, in QuantizedActivations x, void* destination)
    {
        short* codes = x.Codes;
        int columns = x.Columns;
        switch (Choose(path, bits, precision))
        {
            case Kernel.Nibbles16:
                PermuteNibbles16(codes, columns, (short*)destination);
                if (x.LowCodes != null)
                {
                    PermuteNibbles8(x.LowCodes, columns, 64, (sbyte*)((short*)destination + PreparedStride(columns)), lowBytes: true);
                }

                return destination;
            case Kernel.Nibbles8:
                PermuteNibbles8(codes, columns, 64, (sbyte*)destination, lowBytes: false);
                return destination;
            case Kernel.NibblesDot128:
                PermuteNibbles8(codes, columns, 32, (sbyte*)destination, lowBytes: false);
                return destination;
            case Kernel.BytesDot128:
                NarrowCodes(codes, columns, (sbyte*)destination);
                return destination;
            case Kernel.Bytes256:
                PermuteBytes(codes, columns, (sbyte*)destination, lowBytes: false);
                return destination;
            case Kernel.Shorts256 when x.LowCodes != null && bits < 8:
                PermuteBytes(x.LowCodes, columns, (sbyte*)destination, lowBytes: true);
                return destination;
            default:
                return null;
        }
    }

    /// <summary>
    /// Computes y[r] for rows <paramref name="rowStart"/> to <paramref name="rowEnd"/> − 1 against one quantized
    /// activation row. <paramref name="prepared"/> is what <see cref="PrepareCodes"/> returned for the same path,
    /// bit width and precision. <paramref name="scratch"/> must have room for <see cref="ScratchLength"/> floats.
    /// <paramref name="path"/> must not be <see cref="KernelPath.Scalar"/>.
    /// </summary>
    public static void MatVecRows(
        in QuantizedLayout matrix,
        in QuantizedActivations x,
        void* prepared,
        ActivationPrecision precision,
        KernelPath path,
        int rowStart,
        int rowEnd,
        float* y,
        float* scratch)
    {
        int groups = matrix.GroupsPerRow;
        float* scales = scratch;
        float* biases = scratch + groups + 16;
        byte* rowCopy = (byte*)(biases + groups + 16);
        int rowBytes = matrix.WordsPerRow * sizeof(uint);
        var tables = UnpackTables.For(matrix.Bits);
        var kernel = Choose(path, matrix.Bits, precision);
        bool split = x.LowCodes != null;
        short* preparedLow = prepared == null ? null : (short*)prepared + PreparedStride(matrix.Columns);

        // F32 scales and biases are read in place, and other types are converted row by row.
        bool inPlace = matrix.ScaleType == ElementType.F32;
        for (int row = rowStart; row < rowEnd; row++)
        {
            long groupOffset = (long)row * groups;
            float* rowScales = (float*)matrix.Scales + groupOffset;
            float* rowBiases = (float*)matrix.Biases + groupOffset;
            if (!inPlace)
            {
                ElementKernels.ToSingle(matrix.Scales, matrix.ScaleType, groupOffset, scales, groups, path);
                ElementKernels.ToSingle(matrix.Biases, matrix.ScaleType, groupOffset, biases, groups, path);
                rowScales = scales;
                rowBiases = biases;
            }

            // The loads run up to LoadSlack bytes past the row, so a row too close to the end of the packed
            // array is read from a copy.
            byte* packed = (byte*)matrix.RowWords(row);
            if ((long)(matrix.Rows - 1 - row) * rowBytes < LoadSlack)
            {
                Buffer.MemoryCopy(packed, rowCopy, rowBytes, rowBytes);
                packed = rowCopy;
            }

            float sum = (kernel, split) switch
            {
                (Kernel.Nibbles16, false) => DotNibbles16<NoLowCodes>(
                    packed, (short*)prepared, null, rowScales, x.Scales, matrix.Columns, matrix.GroupSize),
                (Kernel.Nibbles16, true) => DotNibbles16<LowCodes>(
                    packed, (short*)prepared, preparedLow, rowScales, x.Scales, matrix.Columns, matrix.GroupSize),
                (Kernel.Nibbles8, _) => DotNibbles8(packed, (sbyte*)prepared, rowScales, x.Scales, matrix.Columns, matrix.GroupSize),
                (Kernel.NibblesDot128, _) => DotNibblesDot128(
                    packed, (sbyte*)prepared, rowScales, x.Scales, groups, matrix.GroupSize),
                (Kernel.BytesDot128, _) => DotBytesDot128(
                    packed, (sbyte*)prepared, rowScales, x.Scales, groups, matrix.GroupSize, matrix.Bits, tables),
                (Kernel.Bytes256, _) => DotBytes256(packed, (sbyte*)prepared, rowScales, x.Scales, groups, matrix.GroupSize, matrix.Bits, tables),
                (Kernel.Shorts256, false) => DotShorts256<NoLowCodes>(
                    packed, x.Codes, null, rowScales, x.Scales, groups, matrix.GroupSize, matrix.Bits, tables),
                (Kernel.Shorts256, true) when matrix.Bits < 8 => DotShorts256LowBytes(
                    packed, x.Codes, (sbyte*)prepared, rowScales, x.Scales, groups, matrix.GroupSize, matrix.Bits, tables),
                (Kernel.Shorts256, true) => DotShorts256<LowCodes>(
                    packed, x.Codes, x.LowCodes, rowScales, x.Scales, groups, matrix.GroupSize, matrix.Bits, tables),
                (_, false) => DotShorts128<NoLowCodes>(
                    packed, x.Codes, null, rowScales, x.Scales, groups, matrix.GroupSize, matrix.Bits, tables),
                (_, true) => DotShorts128<LowCodes>(
                    packed, x.Codes, x.LowCodes, rowScales, x.Scales, groups, matrix.GroupSize, matrix.Bits, tables),
            };

            y[row] = sum + ElementKernels.Dot(rowBiases, x.Sums, groups, path);
        }
    }

    private static Kernel Choose(KernelPath path, int bits, ActivationPrecision precision)
    {
        if (path < KernelPath.Vector256 || !Avx2.IsSupported)
        {
            if (path >= KernelPath.Vector128 && Dp.IsSupported && precision == ActivationPrecision.Int8 && bits < 8)
            {
                return bits == 4 ? Kernel.NibblesDot128 : Kernel.BytesDot128;
            }

            return Kernel.Shorts128;
        }

        bool int8 = precision == ActivationPrecision.Int8;
        if (bits == 4)
        {
            return int8 ? Kernel.Nibbles8 : Kernel.Nibbles16;
        }

        return int8 && bits < 8 ? Kernel.Bytes256 : Kernel.Shorts256;
    }

    // Int16 order for DotNibbles16: within every block of 64 columns, slot 16k + j holds column 4j + k, which is
    // nibble k of 16-bit word j. Slots past the last column hold 0.
    private static void PermuteNibbles16(short* codes, int columns, short* destination)
    {
        for (int block = 0; block < columns; block += 64)
        {
            for (int k = 0; k < 4; k++)
            {
                for (int j = 0; j < 16; j++)
                {
                    int column = block + 4 * j + k;
                    destination[block + 16 * k + j] = column < columns ? codes[column] : (short)0;
                }
            }
        }
    }

    // Int8 order for DotNibbles8 (blocks of 64 columns) and DotNibblesDot128 (blocks of 32). In a block of n
    // columns, slots 0 to n/2 − 1 hold the even columns (low nibbles of its n/2 bytes), and slots n/2 to n − 1 the
    // odd columns (high nibbles). Slots past the last column hold 0. With lowBytes, the values are int32 low codes,
    // which ToByte rounds.
    private static void PermuteNibbles8(short* codes, int columns, int blockColumns, sbyte* destination, bool lowBytes)
    {
        int half = blockColumns / 2;
        for (int block = 0; block < columns; block += blockColumns)
        {
            for (int i = 0; i < half; i++)
            {
                int even = block + 2 * i;
                destination[block + i] = even < columns ? ToByte(codes[even], lowBytes) : (sbyte)0;
                destination[block + half + i] = even + 1 < columns ? ToByte(codes[even + 1], lowBytes) : (sbyte)0;
            }
        }
    }

    // Int8 order for DotBytesDot128: the codes as signed bytes, in natural order.
    private static void NarrowCodes(short* codes, int columns, sbyte* destination)
    {
        for (int c = 0; c < columns; c++)
        {
            destination[c] = (sbyte)codes[c];
        }
    }

    private static sbyte ToByte(short value, bool lowByte) => lowByte ? LowByte(value) : (sbyte)value;

    // Returns the signed byte that carries an int32 low code in the AVX2 kernels: the number of LowByteUnit low
    // codes, rounded. |q_low| ≤ 16384 rounds to at most 127, and the clamp guards a low code just past that limit.
    private static sbyte LowByte(short lowCode) => (sbyte)Math.Clamp((int)MathF.Round(lowCode * (1f / LowByteUnit)), -127, 127);

    // Int8 order for DotBytes256 and DotShorts256LowBytes: within every block of 32 columns, byte 2i holds column i
    // and byte 2i+1 holds column 16+i. With lowBytes, the values are int32 low codes, which ToByte rounds.
    private static void PermuteBytes(short* codes, int columns, sbyte* destination, bool lowBytes)
    {
        for (int block = 0; block < columns; block += 32)
        {
            for (int i = 0; i < 16; i++)
            {
                destination[block + 2 * i] = ToByte(codes[block + i], lowBytes);
                destination[block + 2 * i + 1] = ToByte(codes[block + 16 + i], lowBytes);
            }
        }
    }

    // 4-bit codes times int16 activations: each 16-bit word contains four codes, which a shift and a mask take out
    // without a shuffle or a multiply, 64 columns (32 bytes) per step. With low codes, two more masks take the
    // nibbles out as bytes, which vpmaddubsw multiplies with the low bytes into a second sum.
    private static float DotNibbles16<TLow>(
        byte* packed, short* codes, short* lowCodes, float* scales, float* activationScales, int columns, int groupSize)
        where TLow : struct
    {
        int groupShift = BitOperations.Log2((uint)groupSize);
        var mask = Vector256.Create((ushort)0x000F);
        var byteMask = Vector256.Create((ushort)0x0F0F);
        var ones = Vector256.Create((short)1);
        sbyte* lowBytes = (sbyte*)lowCodes;
        var total = Vector256<float>.Zero;
        var lowTotal = Vector256<float>.Zero;
        for (int c = 0; c < columns; c += 64)
        {
            var words = Vector256.Load((ushort*)packed);
            var shifted = Avx2.ShiftRightLogical(words, 4);
            var code0 = Avx2.And(words, mask).AsInt16();
            var code1 = Avx2.And(shifted, mask).AsInt16();
            var code2 = Avx2.And(Avx2.ShiftRightLogical(words, 8), mask).AsInt16();
            var code3 = Avx2.ShiftRightLogical(words, 12).AsInt16();
            var blockScales = BlockScales(scales, activationScales, c, columns, groupShift);
            var sum = DotNibbleBlock(code0, code1, code2, code3, codes + c);
            total = MultiplyAdd(Avx.ConvertToVector256Single(sum), blockScales, total);
            if (typeof(TLow) == typeof(LowCodes))
            {
                // The low bytes follow the byte order of DotNibbles8: low nibbles with even columns, high with odd.
                // The two halves' pair sums add up to less than 2·2·15·127, so the int16 sum does not saturate.
                var pairs = Avx2.Add(
                    Avx2.MultiplyAddAdjacent(Avx2.And(words, byteMask).AsByte(), Vector256.Load(lowBytes + c)),
                    Avx2.MultiplyAddAdjacent(Avx2.And(shifted, byteMask).AsByte(), Vector256.Load(lowBytes + c + 32)));
                var lowSum = Avx2.MultiplyAddAdjacent(pairs, ones);
                lowTotal = MultiplyAdd(Avx.ConvertToVector256Single(lowSum), blockScales, lowTotal);
            }

            packed += 32;
        }

        float result = Vector256.Sum(total);
        return typeof(TLow) == typeof(LowCodes)
            ? result + Vector256.Sum(lowTotal) * (QuantizedActivations.LowCodeWeight * LowByteUnit)
            : result;
    }

    // Σ code·q over one 64-column block of DotNibbles16, as eight int32 partial sums.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> DotNibbleBlock(
        Vector256<short> code0, Vector256<short> code1, Vector256<short> code2, Vector256<short> code3, short* codes)
    {
        if (AvxVnni.IsSupported)
        {
            var sum = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, code0, Vector256.Load(codes));
            sum = AvxVnni.MultiplyWideningAndAdd(sum, code1, Vector256.Load(codes + 16));
            sum = AvxVnni.MultiplyWideningAndAdd(sum, code2, Vector256.Load(codes + 32));
            return AvxVnni.MultiplyWideningAndAdd(sum, code3, Vector256.Load(codes + 48));
        }

        var low = Avx2.Add(
            Avx2.MultiplyAddAdjacent(code0, Vector256.Load(codes)),
            Avx2.MultiplyAddAdjacent(code1, Vector256.Load(codes + 16)));
        var high = Avx2.Add(
            Avx2.MultiplyAddAdjacent(code2, Vector256.Load(codes + 32)),
            Avx2.MultiplyAddAdjacent(code3, Vector256.Load(codes + 48)));
        return Avx2.Add(low, high);
    }

    // 4-bit codes times int8 activations: low and high nibbles of 32 bytes, each multiplied with its own 32
    // activations by vpmaddubsw (vpdpbusd with AVX-VNNI), 64 columns per step. Pair sums stay below
    // 2·15·127, so nothing saturates, even after the two halves are added in int16.
    private static float DotNibbles8(byte* packed, sbyte* codes, float* scales, float* activationScales, int columns, int groupSize)
    {
        int groupShift = BitOperations.Log2((uint)groupSize);
        var mask = Vector256.Create((byte)0x0F);
        var ones = Vector256.Create((short)1);
        var total = Vector256<float>.Zero;
        for (int c = 0; c < columns; c += 64)
        {
            var bytes = Vector256.Load(packed);
            var low = Avx2.And(bytes, mask);
            var high = Avx2.And(Avx2.ShiftRightLogical(bytes.AsUInt16(), 4).AsByte(), mask);
            var evens = Vector256.Load(codes + c);
            var odds = Vector256.Load(codes + c + 32);
            Vector256<int> sum;
            if (AvxVnni.IsSupported)
            {
                sum = AvxVnni.MultiplyWideningAndAdd(Vector256<int>.Zero, low, evens);
                sum = AvxVnni.MultiplyWideningAndAdd(sum, high, odds);
            }
            else
            {
                var pairs = Avx2.Add(Avx2.MultiplyAddAdjacent(low, evens), Avx2.MultiplyAddAdjacent(high, odds));
                sum = Avx2.MultiplyAddAdjacent(pairs, ones);
            }

            total = MultiplyAdd(Avx.ConvertToVector256Single(sum), BlockScales(scales, activationScales, c, columns, groupShift), total);
            packed += 32;
        }

        return Vector256.Sum(total);
    }

    // Scales for the int32 lanes of a 64-column block, whose lanes 0-3 cover columns c to c+31 and lanes 4-7
    // columns c+32 to c+63. With group size 32 the halves have their own groups, and a half past the last column
    // gets scale 0, because what follows the last group is another row's scale or uninitialized scratch.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> BlockScales(float* scales, float* activationScales, int c, int columns, int groupShift)
    {
        if (groupShift != 5)
        {
            int g = c >> groupShift;
            return Vector256.Create(scales[g] * activationScales[g]);
        }

        int lower = c >> 5;
        float upper = c + 32 < columns ? scales[lower + 1] * activationScales[lower + 1] : 0f;
        return Vector256.Create(Vector128.Create(scales[lower] * activationScales[lower]), Vector128.Create(upper));
    }

    // 16-bit codes times int16 activations with vpmaddwd (vpdpwssd with AVX-VNNI), 32 columns per step, and the
    // low codes into a second sum where there are any.
    private static float DotShorts256<TLow>(
        byte* packed,
        short* codes,
        short* lowCodes,
        float* scales,
        float* activationScales,
        int groups,
        int groupSize,
        int bits,
        UnpackTables tables)
        where TLow : struct
    {
        var control = Vector256.Create(tables.Control);
        var multipliers = Vector256.Create(tables.Multipliers);
        var shift = Vector128.CreateScalar((ushort)(16 - bits));
        int stepBytes = 4 * bits;
        var total = Vector256<float>.Zero;
        var lowTotal = Vector256<float>.Zero;
        for (int g = 0; g < groups; g++)
        {
            var sum = Vector256<int>.Zero;
            var lowSum = Vector256<int>.Zero;
            for (int c = 0; c < groupSize; c += 32)
            {
                var first = Unpack256(packed, control, multipliers, shift);
                var second = Unpack256(packed + 2 * bits, control, multipliers, shift);
                sum = MultiplyAddPairs(sum, first, second, codes + c);
                if (typeof(TLow) == typeof(LowCodes))
                {
                    lowSum = MultiplyAddPairs(lowSum, first, second, lowCodes + c);
                }

                packed += stepBytes;
            }

            var scale = Vector256.Create(scales[g] * activationScales[g]);
            total = MultiplyAdd(Avx.ConvertToVector256Single(sum), scale, total);
            if (typeof(TLow) == typeof(LowCodes))
            {
                lowTotal = MultiplyAdd(Avx.ConvertToVector256Single(lowSum), scale, lowTotal);
                lowCodes += groupSize;
            }

            codes += groupSize;
        }

        float result = Vector256.Sum(total);
        return typeof(TLow) == typeof(LowCodes) ? result + Vector256.Sum(lowTotal) * QuantizedActivations.LowCodeWeight : result;
    }

    // DotShorts256 with int32 activations for codes of fewer than 8 bits: the unpacked codes of 32 columns, packed
    // into bytes (PackBytes), multiply the low bytes (PermuteBytes) by vpmaddubsw. Pair sums stay below 2·63·127,
    // so two steps (64 columns) add up in int16 before one vpmaddwd widens them.
    private static float DotShorts256LowBytes(
        byte* packed,
        short* codes,
        sbyte* lowBytes,
        float* scales,
        float* activationScales,
        int groups,
        int groupSize,
        int bits,
        UnpackTables tables)
    {
        var control = Vector256.Create(tables.Control);
        var multipliers = Vector256.Create(tables.Multipliers);
        var shift = Vector128.CreateScalar((ushort)(16 - bits));
        var ones = Vector256.Create((short)1);
        int stepBytes = 4 * bits;
        var total = Vector256<float>.Zero;
        var lowTotal = Vector256<float>.Zero;
        for (int g = 0; g < groups; g++)
        {
            var sum = Vector256<int>.Zero;
            var lowSum = Vector256<int>.Zero;
            // Written out for two steps, because a loop over them measured about 8 % slower.
            for (int c = 0; c < groupSize; c += 64)
            {
                var first = Unpack256(packed, control, multipliers, shift);
                var second = Unpack256(packed + 2 * bits, control, multipliers, shift);
                sum = MultiplyAddPairs(sum, first, second, codes + c);
                var lowPairs = Avx2.MultiplyAddAdjacent(PackBytes(first, second), Vector256.Load(lowBytes + c));
                packed += stepBytes;
                if (c + 32 < groupSize)
                {
                    first = Unpack256(packed, control, multipliers, shift);
                    second = Unpack256(packed + 2 * bits, control, multipliers, shift);
                    sum = MultiplyAddPairs(sum, first, second, codes + c + 32);
                    lowPairs = Avx2.Add(lowPairs, Avx2.MultiplyAddAdjacent(PackBytes(first, second), Vector256.Load(lowBytes + c + 32)));
                    packed += stepBytes;
                }

                lowSum = Avx2.Add(lowSum, Avx2.MultiplyAddAdjacent(lowPairs, ones));
            }

            var scale = Vector256.Create(scales[g] * activationScales[g]);
            total = MultiplyAdd(Avx.ConvertToVector256Single(sum), scale, total);
            lowTotal = MultiplyAdd(Avx.ConvertToVector256Single(lowSum), scale, lowTotal);
            codes += groupSize;
            lowBytes += groupSize;
        }

        return Vector256.Sum(total) + Vector256.Sum(lowTotal) * (QuantizedActivations.LowCodeWeight * LowByteUnit);
    }

    // Packs two vectors of 16 codes below 256 into bytes: first's code i to byte 2i, second's to byte 2i+1.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<byte> PackBytes(Vector256<short> first, Vector256<short> second) =>
        Avx2.Or(first, Avx2.ShiftLeftLogical(second, 8)).AsByte();

    // sum + Σ first·q[0..15] + Σ second·q[16..31], pairwise into eight int32 lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> MultiplyAddPairs(Vector256<int> sum, Vector256<short> first, Vector256<short> second, short* q)
    {
        if (AvxVnni.IsSupported)
        {
            sum = AvxVnni.MultiplyWideningAndAdd(sum, first, Vector256.Load(q));
            return AvxVnni.MultiplyWideningAndAdd(sum, second, Vector256.Load(q + 16));
        }

        return Avx2.Add(
            sum,
            Avx2.Add(Avx2.MultiplyAddAdjacent(first, Vector256.Load(q)), Avx2.MultiplyAddAdjacent(second, Vector256.Load(q + 16))));
    }

    // Codes of fewer than 8 bits times int8 activations with vpmaddubsw and vpmaddwd (vpdpbusd with AVX-VNNI),
    // 32 columns per step.
    private static float DotBytes256(
        byte* packed, sbyte* codes, float* scales, float* activationScales, int groups, int groupSize, int bits, UnpackTables tables)
    {
        var control = Vector256.Create(tables.Control);
        var multipliers = Vector256.Create(tables.Multipliers);
        var ones = Vector256.Create((short)1);
        var shift = Vector128.CreateScalar((ushort)(16 - bits));
        int stepBytes = 4 * bits;
        var total = Vector256<float>.Zero;
        for (int g = 0; g < groups; g++)
        {
            var sum = Vector256<int>.Zero;
            for (int c = 0; c < groupSize; c += 32)
            {
                // Columns 0-15 of the block go to the low byte of each 16-bit lane, columns 16-31 to the high byte.
                var first = Unpack256(packed, control, multipliers, shift);
                var second = Unpack256(packed + 2 * bits, control, multipliers, shift);
                var pairs = PackBytes(first, second);
                var q = Vector256.Load(codes + c);
                sum = AvxVnni.IsSupported
                    ? AvxVnni.MultiplyWideningAndAdd(sum, pairs, q)
                    : Avx2.Add(sum, Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(pairs, q), ones));
                packed += stepBytes;
            }

            total = MultiplyAdd(Avx.ConvertToVector256Single(sum), Vector256.Create(scales[g] * activationScales[g]), total);
            codes += groupSize;
        }

        return Vector256.Sum(total);
    }

    // 4-bit codes times int8 activations with the ARM64 dot product (sdot), 32 columns (16 bytes) per step. The low
    // nibbles meet the even columns and the high nibbles the odd ones (PermuteNibbles8 with blocks of 32). Codes
    // below 16 are valid signed bytes, and each int32 lane adds at most 8·15·127 per step.
    private static float DotNibblesDot128(byte* packed, sbyte* codes, float* scales, float* activationScales, int groups, int groupSize)
    {
        var mask = Vector128.Create((byte)0x0F);
        var total = Vector128<float>.Zero;
        for (int g = 0; g < groups; g++)
        {
            var sum = Vector128<int>.Zero;
            for (int c = 0; c < groupSize; c += 32)
            {
                var bytes = Vector128.Load(packed);
                var low = (bytes & mask).AsSByte();
                var high = Vector128.ShiftRightLogical(bytes, 4).AsSByte();
                sum = Dp.DotProduct(sum, low, Vector128.Load(codes + c));
                sum = Dp.DotProduct(sum, high, Vector128.Load(codes + c + 16));
                packed += 16;
            }

            total += Vector128.ConvertToSingle(sum) * Vector128.Create(scales[g] * activationScales[g]);
            codes += groupSize;
        }

        return Vector128.Sum(total);
    }

    // Codes of 2, 3, 5 and 6 bits times int8 activations with the ARM64 dot product (sdot), 16 columns per step.
    // The two halves of 8 codes unpack into 16-bit lanes (Unpack128) and narrow into one vector of bytes, which
    // meets the activations in natural order.
    private static float DotBytesDot128(
        byte* packed, sbyte* codes, float* scales, float* activationScales, int groups, int groupSize, int bits, UnpackTables tables)
    {
        var control = Vector128.Create(tables.Control.AsSpan(0, 16));
        var multipliers = Vector128.Create(tables.Multipliers.AsSpan(0, 8));
        int shift = 16 - bits;
        var total = Vector128<float>.Zero;
        for (int g = 0; g < groups; g++)
        {
            var sum = Vector128<int>.Zero;
            for (int c = 0; c < groupSize; c += 16)
            {
                var first = Unpack128(packed, control, multipliers, shift);
                var second = Unpack128(packed + bits, control, multipliers, shift);
                sum = Dp.DotProduct(sum, Vector128.Narrow(first, second), Vector128.Load(codes + c));
                packed += 2 * bits;
            }

            total += Vector128.ConvertToSingle(sum) * Vector128.Create(scales[g] * activationScales[g]);
            codes += groupSize;
        }

        return Vector128.Sum(total);
    }

    // 16-bit codes times int16 activations with 128-bit vectors, 16 columns per step: SSE2 vpmaddwd on x64,
    // widening multiply-accumulate on ARM64, portable widening otherwise. Low codes go into a second sum.
    private static float DotShorts128<TLow>(
        byte* packed,
        short* codes,
        short* lowCodes,
        float* scales,
        float* activationScales,
        int groups,
        int groupSize,
        int bits,
        UnpackTables tables)
        where TLow : struct
    {
        var control = Vector128.Create(tables.Control.AsSpan(0, 16));
        var multipliers = Vector128.Create(tables.Multipliers.AsSpan(0, 8));
        int shift = 16 - bits;
        var total = Vector128<float>.Zero;
        var lowTotal = Vector128<float>.Zero;
        for (int g = 0; g < groups; g++)
        {
            var sum = Vector128<int>.Zero;
            var lowSum = Vector128<int>.Zero;
            for (int c = 0; c < groupSize; c += 16)
            {
                var first = Unpack128(packed, control, multipliers, shift);
                var second = Unpack128(packed + bits, control, multipliers, shift);
                sum = MultiplyAddAdjacent(sum, first, Vector128.Load(codes + c));
                sum = MultiplyAddAdjacent(sum, second, Vector128.Load(codes + c + 8));
                if (typeof(TLow) == typeof(LowCodes))
                {
                    lowSum = MultiplyAddAdjacent(lowSum, first, Vector128.Load(lowCodes + c));
                    lowSum = MultiplyAddAdjacent(lowSum, second, Vector128.Load(lowCodes + c + 8));
                }

                packed += 2 * bits;
            }

            var scale = Vector128.Create(scales[g] * activationScales[g]);
            total += Vector128.ConvertToSingle(sum) * scale;
            if (typeof(TLow) == typeof(LowCodes))
            {
                lowTotal += Vector128.ConvertToSingle(lowSum) * scale;
                lowCodes += groupSize;
            }

            codes += groupSize;
        }

        float result = Vector128.Sum(total);
        return typeof(TLow) == typeof(LowCodes) ? result + Vector128.Sum(lowTotal) * QuantizedActivations.LowCodeWeight : result;
    }

    // Unpacks 16 codes from the 2b bytes at packed (reading 16 bytes) into 16-bit lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Unpack256(
        byte* packed, Vector256<byte> control, Vector256<ushort> multipliers, Vector128<ushort> shift)
    {
        var source = Avx2.BroadcastVector128ToVector256(packed);
        var pairs = Avx2.Shuffle(source, control).AsUInt16();
        return Avx2.ShiftRightLogical(Avx2.MultiplyLow(pairs, multipliers), shift).AsInt16();
    }

    // Unpacks 8 codes from the b bytes at packed (reading 16 bytes) into 16-bit lanes.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<short> Unpack128(
        byte* packed, Vector128<byte> control, Vector128<ushort> multipliers, int shift)
    {
        var source = Vector128.Load(packed);
        Vector128<byte> pairs;
        if (Ssse3.IsSupported)
        {
            pairs = Ssse3.Shuffle(source, control);
        }
        else if (AdvSimd.Arm64.IsSupported)
        {
            pairs = AdvSimd.Arm64.VectorTableLookup(source, control);
        }
        else
        {
            pairs = Vector128.Shuffle(source, control);
        }

        return Vector128.ShiftRightLogical(pairs.AsUInt16() * multipliers, shift).AsInt16();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<int> MultiplyAddAdjacent(Vector128<int> sum, Vector128<short> left, Vector128<short> right)
    {
        if (Sse2.IsSupported)
        {
            return Sse2.Add(sum, Sse2.MultiplyAddAdjacent(left, right));
        }

        if (AdvSimd.IsSupported)
        {
            sum = AdvSimd.MultiplyWideningLowerAndAdd(sum, left.GetLower(), right.GetLower());
            return AdvSimd.MultiplyWideningUpperAndAdd(sum, left, right);
        }

        var (leftLow, leftHigh) = Vector128.Widen(left);
        var (rightLow, rightHigh) = Vector128.Widen(right);
        return sum + leftLow * rightLow + leftHigh * rightHigh;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MultiplyAdd(Vector256<float> a, Vector256<float> b, Vector256<float> addend) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, addend) : Avx.Add(Avx.Multiply(a, b), addend);

    // Type arguments of the kernels that select whether low codes are multiplied too.
    private struct NoLowCodes;

    private struct LowCodes;

    private enum Kernel
    {
        Shorts128,
        NibblesDot128,
        BytesDot128,
        Shorts256,
        Bytes256,
        Nibbles16,
        Nibbles8,
    }

    /// <summary>
    /// Byte-shuffle control and multipliers that unpack 16 codes of one bit width from 2b bytes: lanes 0-7 from
    /// the first b bytes and lanes 8-15 from the next b bytes. Both halves index from the start of the 2b bytes,
    /// because the 256-bit kernels broadcast the same 16 bytes to both 128-bit halves.
    /// </summary>
    private sealed class UnpackTables
    {
        private static readonly UnpackTables?[] s_tables = new UnpackTables?[9];

        private UnpackTables(int bits)
        {
            Control = new byte[32];
            Multipliers = new ushort[16];
            for (int i = 0; i < 16; i++)
            {
                int bit = i * bits;
                int lowByte = bit >> 3;
                int offset = bit & 7;
                Control[2 * i] = (byte)lowByte;

                // 0x80 zeroes the upper byte when the code lies wholly in the lower one.
                Control[2 * i + 1] = offset + bits > 8 ? (byte)(lowByte + 1) : (byte)0x80;
                Multipliers[i] = (ushort)(1 << (16 - offset - bits));
            }
        }

        public byte[] Control { get; }

        public ushort[] Multipliers { get; }

        public static UnpackTables For(int bits) => s_tables[bits] ??= new UnpackTables(bits);
    }
}
